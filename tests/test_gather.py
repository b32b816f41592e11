"""Network passes shared by threads (CUDA's several files per batch), checked on the CPU: the joined
passes give each caller exactly what its own pass would, an error reaches only the caller whose
input fails (a pass too large is made again in halves), and files
scrubbed in threads that share one model come out as they do one after another."""
from __future__ import annotations

import threading
import warnings

import numpy as np
import pydicom

from scrubber import batch
from scrubber.batch import scrub_jobs, walk
from scrubber.detect.gather import Gather
from scrubber.policy import Policy
from scrubber.quiet import no_warnings

from .util import SAMPLE, data_path


def _together(fn, inputs: list, gather: Gather | None = None) -> list:
    """``fn`` on every input, each in its own thread, all released at once. With ``gather``, each
    thread first makes one call of its own (so that the threads have been seen calling: a Gather
    waits for company only then), and the gather's counters are reset before the calls that count."""
    warm = threading.Barrier(len(inputs) + 1)
    start = threading.Barrier(len(inputs) + 1)
    out: list = [None] * len(inputs)

    def work(index: int) -> None:
        if gather is not None:
            try:
                fn(inputs[index])
            except Exception:  # noqa: BLE001 - only the counted calls matter
                pass
        warm.wait()
        start.wait()
        try:
            out[index] = fn(inputs[index])
        except Exception as exc:  # noqa: BLE001 - the test looks at what each caller got
            out[index] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    warm.wait()
    if gather is not None:
        gather.passes = gather.waits = 0
    start.wait()
    for thread in threads:
        thread.join(30)
    return out


def test_calls_of_one_shape_share_a_pass_and_get_their_own_rows():
    seen: list[int] = []

    def network(batch: np.ndarray) -> np.ndarray:
        seen.append(len(batch))
        return batch.sum(axis=(2, 3))

    gather = Gather(network, window_s=0.2)
    rng = np.random.default_rng(1)
    inputs = [rng.random((rows, 3, 8, 8)) for rows in (1, 2, 1, 3)] + [rng.random((1, 3, 4, 4))]
    out = _together(gather, inputs, gather)
    for given, got in zip(inputs, out):
        np.testing.assert_array_equal(got, given.sum(axis=(2, 3)))
    assert gather.passes == 2  # the 8x8 calls together, the 4x4 one alone
    assert sorted(seen[-2:]) == [1, 7]


def test_a_pass_holds_at_most_max_rows():
    seen: list[int] = []
    gather = Gather(lambda batch: seen.append(len(batch)) or batch[:, 0], window_s=0.2, max_rows=4)
    _together(gather, [np.zeros((3, 2)) for _ in range(4)], gather)
    assert max(seen) <= 4 and sum(seen) == 24  # the warm-up calls and the counted ones


def test_an_error_reaches_only_the_caller_whose_input_fails_and_the_next_calls_work():
    def network(batch: np.ndarray) -> np.ndarray:
        if batch.max() > 0:
            raise RuntimeError("bad input")
        return batch

    gather = Gather(network, window_s=0.2)
    out = _together(gather, [np.zeros((1, 2)), np.ones((1, 2)), np.zeros((2, 2))], gather)
    assert isinstance(out[1], RuntimeError)
    np.testing.assert_array_equal(out[0], np.zeros((1, 2)))  # its pass with the bad input failed; alone it works
    np.testing.assert_array_equal(out[2], np.zeros((2, 2)))
    np.testing.assert_array_equal(gather(np.zeros((2, 2))), np.zeros((2, 2)))


def test_a_pass_too_large_for_the_card_is_made_again_in_halves():
    def network(batch: np.ndarray) -> np.ndarray:
        if len(batch) > 2:
            raise MemoryError("CUDA out of memory")  # torch.cuda.OutOfMemoryError on a card
        return batch * 2

    gather = Gather(network, window_s=0.2)
    out = _together(gather, [np.ones((3, 2)), np.full((2, 2), 3.0)], gather)
    np.testing.assert_array_equal(out[0], np.full((3, 2), 2.0))
    np.testing.assert_array_equal(out[1], np.full((2, 2), 6.0))
    assert gather.passes == 3  # the 3 rows in halves of 1 and 2, the 2 rows whole (joined or not)


def test_real_craft_passes_joined_across_threads_give_the_same_boxes():
    """Four crops of a real ultrasound frame, as four files would send them, through CRAFT."""
    from scrubber.detect.onnx_craft import OnnxCraftDetector

    frame = pydicom.dcmread(data_path("US1_UNCR.dcm")).pixel_array
    crops = [np.ascontiguousarray(frame[top:top + 96, left:left + 192]) for top, left in
             ((0, 0), (0, 200), (0, 400), (380, 0))]
    alone = OnnxCraftDetector(threads=1)
    expected = [alone([crop], magnify=1.0)[0] for crop in crops]
    assert any(expected), "the crops hold text"
    shared = OnnxCraftDetector(threads=1)
    shared.scores = gather = Gather(shared.scores, window_s=0.5)
    got = _together(lambda crop: shared([crop], magnify=1.0)[0], crops, gather)
    assert got == expected
    assert gather.passes < len(crops)


def test_real_db_in_torch_joined_across_threads_gives_the_same_boxes():
    """DB as it runs on a card (its graph in torch, passes joined): four whole frames, as four files
    of one layout would send them, give each file the boxes its own pass gives."""
    from scrubber.detect.db import DbDetector

    frame = pydicom.dcmread(data_path("US1_UNCR.dcm")).pixel_array
    frames = [frame, frame[::-1].copy(), frame[:, ::-1].copy(), np.ascontiguousarray(np.roll(frame, 40, axis=0))]
    alone = DbDetector(threads=1, engine="torch")
    expected = [alone([f])[0] for f in frames]
    assert all(expected), "the frames hold text"
    shared = DbDetector(threads=1, engine="torch")
    shared.network = gather = Gather(shared.network, window_s=0.5)
    got = _together(lambda f: shared([f])[0], frames, gather)
    assert got == expected
    assert gather.passes < len(frames)


def test_warnings_stay_off_while_any_thread_is_inside():
    inside, left = threading.Event(), threading.Event()
    caught: list = []

    def late() -> None:
        with no_warnings():
            inside.set()
            left.wait(10)
            with warnings.catch_warnings(record=True) as caught_here:
                warnings.warn("PatientName=DOE^JANE", UserWarning)  # noqa: B028
            caught.extend(caught_here)

    before = list(warnings.filters)
    thread = threading.Thread(target=late)
    with no_warnings():
        thread.start()
        inside.wait(10)
    left.set()
    thread.join(10)
    assert caught == [], "a warning (they can quote header values) was let through"
    assert warnings.filters == before


def test_files_scrubbed_in_threads_sharing_a_model_match_one_after_another(tmp_path, monkeypatch):
    jobs, _ = walk([SAMPLE])
    policy = Policy(device="cpu", key=b"k" * 32)
    serial = scrub_jobs(jobs, tmp_path / "serial", policy, workers=1)
    monkeypatch.setattr(batch, "shares_model", lambda policy: True)
    threaded = scrub_jobs(jobs, tmp_path / "threads", policy, workers=3)
    assert [r.decision for r in threaded] == [r.decision for r in serial]
    assert [r.boxes for r in threaded] == [r.boxes for r in serial]
    for report in serial:
        if report.decision == "delivered":
            assert (tmp_path / "threads" / report.rel).read_bytes() == (tmp_path / "serial" / report.rel).read_bytes()


def test_the_cards_code_path_in_threads_gives_what_the_cpu_default_gives(tmp_path, monkeypatch):
    """What a CUDA device runs, but on the CPU: DB's graph and CRAFT in torch, each network's
    passes joined across three worker threads (Gather). The sample data comes out as those networks
    leave it one file after another, and with every box the default CPU detector finds (onnxruntime,
    CRAFT's 8-bit marks: us_cine gets two more lone-mark boxes from float32 CRAFT)."""
    from scrubber.detect import registry
    from scrubber.detect.db import DbDetector, TextAndMarks
    from scrubber.detect.ocr import CraftDetector

    jobs, _ = walk([SAMPLE])
    policy = Policy(device="cpu", key=b"k" * 32)

    def run(name: str, workers: int = 1) -> list:  # each run has a layout memory of its own
        return scrub_jobs(jobs, tmp_path / name, policy, workers=workers)

    default = run("default")
    in_torch = TextAndMarks(DbDetector(engine="torch"), CraftDetector("cpu"))
    monkeypatch.setattr(registry, "detector_for", lambda policy, threads=0: in_torch)
    serial = run("serial")
    text, marks = DbDetector(engine="torch"), CraftDetector("cpu")
    text.network, marks.scores = Gather(text.network), Gather(marks.scores)
    card_like = TextAndMarks(text, marks)
    monkeypatch.setattr(registry, "detector_for", lambda policy, threads=0: card_like)
    monkeypatch.setattr(batch, "shares_model", lambda policy: True)
    threaded = run("threads", workers=3)
    assert [r.decision for r in threaded] == [r.decision for r in serial] == [r.decision for r in default]
    assert [r.boxes for r in threaded] == [r.boxes for r in serial]
    for ours, cpu in zip(threaded, default):
        assert all(set(theirs) <= set(mine) for mine, theirs in zip(ours.boxes, cpu.boxes)), ours.rel
    assert {r.backend for r in threaded if r.decision == "delivered"} == {"torch"}
    assert text.network.passes > 0 and marks.scores.passes > 0


def test_workers_are_processes_on_the_cpu():
    assert not batch.shares_model(Policy(device="cpu"))


def test_a_lone_thread_never_waits_for_company():
    gather = Gather(lambda batch: batch, window_s=5.0)
    for _ in range(3):
        gather(np.zeros((1, 2)))
    assert (gather.passes, gather.waits) == (3, 0)


def test_no_gather_on_the_cpu(detector):
    """The CPU detectors keep their own passes (no waiting for company)."""
    for net in (detector, getattr(detector, "marks", detector)):
        assert not isinstance(getattr(net, "scores", None), Gather)
