"""How many workers a run gets, and that their number changes no output."""
from __future__ import annotations

import pydicom
import pytest

from scrubber import batch, workers
from scrubber.api import scrub_paths
from scrubber.batch import scrub_jobs, walk
from scrubber.cli import main
from scrubber.policy import Policy

from .util import color3d_series

KEY = b"w" * 32
MiB = 1 << 20


@pytest.fixture()
def machine(monkeypatch):
    """A machine of 8 cores and 4 GiB available, whatever this one has."""
    monkeypatch.setattr(workers, "usable_cores", lambda: 8)
    monkeypatch.setattr(workers, "available_memory", lambda: 4 << 30)


def test_auto_gives_one_worker_a_core_as_far_as_memory_and_the_input_repay(machine, monkeypatch):
    assert workers.auto_workers([100 * 1024] * 6) == 1  # six small files: starting a worker costs more
    assert workers.auto_workers([100 * 1024] * 8) == 2
    assert workers.auto_workers([100 * 1024] * 400) == 2  # 4 GiB hold two workers at their peak
    assert workers.auto_workers([40 * MiB] * 3) == 2  # three large clips weigh what they hold
    assert workers.auto_workers([]) == 1
    assert workers.auto_workers(None) == 2  # a stream: cores and memory only
    monkeypatch.setattr(workers, "available_memory", lambda: None)  # unknown: the cores decide
    assert workers.auto_workers([100 * 1024] * 400) == 8
    monkeypatch.setattr(workers, "usable_cores", lambda: 32)
    assert workers.auto_workers([100 * 1024] * 400, on_card=True) == workers.CARD_THREADS


def test_auto_stats_the_files_of_a_short_job_only(machine, monkeypatch):
    """Each file is a unit at least: 32 files already repay 8 workers, so a large job is not
    statted file by file (on a network share that is a pass over the whole archive)."""
    from scrubber.batch import Job, resolve_workers

    statted = []
    monkeypatch.setattr(batch, "_size", lambda src: statted.append(src) or 100 * 1024)
    monkeypatch.setattr(workers, "available_memory", lambda: 64 << 30)
    many, few = [Job(f"f{i}", f"f{i}") for i in range(32)], [Job(f"f{i}", f"f{i}") for i in range(8)]
    assert resolve_workers("auto", many, Policy(device="cpu")) == 8 and statted == []
    assert resolve_workers("auto", few, Policy(device="cpu")) == 2 and len(statted) == 8


def test_a_memory_cap_gives_fewer_workers_and_a_smaller_budget(machine, tmp_path, capsys):
    """``--memory`` caps what the machine has: auto counts workers within it, and the gate's budget
    is the cap less each worker's base."""
    assert workers.parse_memory("8G") == 8 << 30 and workers.parse_memory("1.5g") == 3 << 29
    assert workers.parse_memory("600000000") == 600000000
    for bad in ("x", "-3G", "1K"):
        with pytest.raises(ValueError):
            workers.parse_memory(bad)
    assert workers.auto_workers([100 * 1024] * 400, cap=2 << 30) == 1  # 4 GiB available (2 workers), 2 allowed
    assert workers.memory_budget(2, cap=3 << 30) == (3 << 30) - 2 * workers.WORKER_BASE
    assert workers.memory_budget(2, cap=16 << 30) == (4 << 30) - 2 * workers.WORKER_BASE  # no more than there is
    with pytest.raises(SystemExit):
        main(["run", str(tmp_path), "-o", str(tmp_path / "out"), "--memory", "lots"])
    assert "--memory takes a size" in capsys.readouterr().err
    assert main(["run", str(tmp_path), "-o", str(tmp_path / "out"), "--memory", "4G", "--dask", "local"]) == 2


def test_the_count_is_a_number_of_at_least_one_or_auto():
    assert workers.parse_workers("auto") == "auto"
    assert workers.parse_workers("3") == 3
    for bad in ("0", "-1", "two"):
        with pytest.raises(ValueError):
            workers.parse_workers(bad)
    with pytest.raises(ValueError):
        batch.resolve_workers(0, [], Policy())


def test_a_bad_count_on_the_command_line_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(tmp_path), "-o", str(tmp_path / "out"), "--workers", "0"])
    assert exit_.value.code == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_a_layouts_other_files_wait_for_its_first_then_go_side_by_side(monkeypatch):
    from scrubber import grouping
    from scrubber.batch import Job
    from scrubber.grouping import Planner

    series = [Job(f"s{i}", f"s{i}") for i in range(30)]
    alone = [Job("a", "a")]
    monkeypatch.setattr(grouping, "_header", lambda path, policy: (None if path == "a" else ("series",), 0))

    def first(planner):
        return [task for job in series + alone for task in planner.feed(job)] + planner.close()

    planner = Planner(Policy(key=KEY), workers=2)
    tasks = first(planner)
    assert [(t.jobs, t.lead) for t in tasks] == [(series[:1], True), (alone, False)]
    reference = {("layout",): object()}
    followers = planner.finished(tasks[0], reference)
    assert [job for task in followers for job in task.jobs] == series[1:]  # every file once, in order
    assert max(len(task.jobs) for task in followers) <= 4 and len(followers) >= 2 * 2
    assert all(task.references is reference and not task.lead for task in followers)
    assert planner.finished(tasks[1], {}) == [] and planner.finished(followers[0], {}) == []
    planner = Planner(Policy(key=KEY), workers=2)
    relead = planner.finished(first(planner)[0], {})  # the first left no reference: the next file leads
    assert [(t.jobs, t.lead) for t in relead] == [(series[1:2], True)]


def _grouped_first(groups, workers):
    """The plan of reading every header first (``layout_groups``): each group's first file; when
    it ends, the group's other files in chunks with the reference it left, or, where it left none,
    the next file first. (The tasks to start, and what a task's end lets start.)"""
    from scrubber.grouping import Task, _chunked

    rest = {}

    def lead(group):
        task = Task(group[:1], {}, lead=len(group) > 1)
        rest[id(task)] = (task, group[1:])  # the entry holds the task, so its id stays its own
        return task

    def ended(task, references):
        later = rest.pop(id(task), (None, []))[1]
        if not later:
            return []
        return _chunked(later, references, workers) if references else [lead(later)]

    return [lead(group) for group in groups], ended


@pytest.mark.parametrize("seed", range(6))
def test_planning_while_reading_gives_each_file_the_lead_or_reference_of_grouping_first(monkeypatch, seed):
    """The parallel run plans while it reads headers (``Planner``). Against grouping every header
    first (``layout_groups``, ``_grouped_first``), in any order of reading and
    finishing, with layouts forgotten and found again (40 layouts, a memory of 32), files without a
    layout and first files that leave no reference: the same files lead and every other file gets
    the reference of the same first file."""
    import random

    from scrubber import grouping
    from scrubber.batch import Job
    from scrubber.grouping import Planner, layout_groups

    rng = random.Random(seed)
    keys = {f"f{i}": (None if rng.random() < 0.1 else (f"layout{rng.randrange(40)}",)) for i in range(300)}
    left_none = {name for name in keys if rng.random() < 0.15}  # first files that leave no reference
    monkeypatch.setattr(grouping, "_header", lambda path, policy: (keys[str(path)], 0))
    jobs = [Job(name, name) for name in keys]

    def run(start, ended, feed=None):
        """Tasks done in a random order; what each file got: the first file it follows, or "first"
        (scrubbed with an empty layout memory: a first file, or a file alone)."""
        got, ready = {}, list(start)
        while ready or (feed and feed[0]):
            if feed and feed[0] and (not ready or rng.random() < 0.5):
                ready += feed[1](feed[0].pop(0)) + ([] if feed[0] else feed[2]())
                continue
            task = ready.pop(rng.randrange(len(ready)))
            for job in task.jobs:
                got[job.rel] = task.references.get("from", "first")
            references = {} if not task.lead or task.jobs[0].rel in left_none else {"from": task.jobs[0].rel}
            ready += ended(task, references)
        return got

    policy = Policy(key=KEY)
    upfront = run(*_grouped_first(layout_groups(jobs, policy), 2))
    planner = Planner(policy, 2)
    streamed = run([], planner.finished, (list(jobs), planner.feed, planner.close))
    assert streamed == upfront and len(upfront) == len(jobs)
    assert sum(got == "first" for got in upfront.values()) > 40 + 30  # layouts forgotten and found again


def _pixel_data(folder, paths):
    return {p.name: pydicom.dcmread(folder / p.name).PixelData for p in paths}


def test_a_series_comes_out_the_same_with_any_number_of_workers(tmp_path):
    """Later images of a layout are compared with its first: in a parallel run each file meets
    the reference it meets in the serial run, whichever worker scrubs it and whenever, so the
    output is the serial run's byte for byte (before, a second worker took its own first file
    as the layout's reference, and half the files of a series came out with other boxes)."""
    paths = color3d_series(tmp_path / "in", [0, 20, 40, 60, 80, 100, 119, 30, 90])
    policy = Policy(device="cpu", key=KEY)
    serial = scrub_paths([tmp_path / "in"], tmp_path / "serial", policy, workers=1)
    parallel = scrub_paths([tmp_path / "in"], tmp_path / "processes", policy, workers=2)
    assert serial.ok and parallel.ok and parallel.workers == 2
    assert [r.boxes for r in parallel.reports] == [r.boxes for r in serial.reports]
    assert _pixel_data(tmp_path / "processes", paths) == _pixel_data(tmp_path / "serial", paths)
    assert sum(r.boxes_removed for r in serial.reports) > 0


def _serial_and_in_threads(tmp_path, monkeypatch, workers: int):
    """Reports of the files in ``tmp_path/in`` scrubbed one after another, then by ``workers``
    threads sharing one model (what a card runs), into folders serial/ and threads/."""
    jobs, _ = walk([tmp_path / "in"])
    policy = Policy(device="cpu", key=KEY)
    serial = scrub_jobs(jobs, tmp_path / "serial", policy, workers=1)
    monkeypatch.setattr(batch, "shares_model", lambda policy: True)
    return serial, scrub_jobs(jobs, tmp_path / "threads", policy, workers=workers)


def test_threads_sharing_a_model_keep_each_files_reference_apart(tmp_path, monkeypatch):
    """On a card the workers are threads of one process: each task's layout memory is its own."""
    paths = color3d_series(tmp_path / "in", [0, 50, 100, 10, 60, 110])
    serial, threaded = _serial_and_in_threads(tmp_path, monkeypatch, 3)
    assert [r.boxes for r in threaded] == [r.boxes for r in serial]
    assert _pixel_data(tmp_path / "threads", paths) == _pixel_data(tmp_path / "serial", paths)


def test_a_layouts_first_file_that_cannot_be_read_hands_the_lead_to_the_next(tmp_path, monkeypatch):
    """The serial run takes a layout's next file as its reference when the first is quarantined;
    so does the parallel run."""
    paths = color3d_series(tmp_path / "in", [0, 40, 80, 119, 20])
    first = pydicom.dcmread(paths[0])
    first.PixelData = first.PixelData[:-400]  # its one JPEG frame cut short: quarantined after the header
    first.save_as(paths[0])
    serial, threaded = _serial_and_in_threads(tmp_path, monkeypatch, 2)
    assert [r.decision for r in serial] == [r.decision for r in threaded]
    assert serial[0].decision != "delivered" and all(r.decision == "delivered" for r in serial[1:])
    assert [r.boxes for r in threaded] == [r.boxes for r in serial]


def _dies_on_b(jobs, references, lead):
    """A worker's task that kills its process on the file named b (as the out-of-memory killer or
    a crashing decoder would), and delivers the others."""
    import os

    from scrubber.audit import FileReport

    if any(job.rel == "b" for job in jobs):
        os._exit(9)
    return [FileReport(rel=job.rel, decision="delivered") for job in jobs], {}


def test_a_file_that_kills_its_worker_is_reported_alone_and_the_batch_goes_on(tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from scrubber.batch import Job, _run_parallel

    names = list("abcdefgh")
    for name in names:
        (tmp_path / name).write_text("not DICOM: each its own group\n")
    jobs = [Job(tmp_path / name, name) for name in names]
    heard = {}
    pools = []

    def make_pool():
        pools.append(ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")))
        return pools[-1]

    _run_parallel(make_pool, _dies_on_b, jobs, Policy(key=KEY), 2, lambda job, r: heard.setdefault(job.rel, r),
                  quarantine=None, budget=None)
    assert sorted(heard) == names
    assert heard["b"].decision == "failed" and heard["b"].reason_code == "worker_failed"
    assert "died" in heard["b"].reason
    assert all(heard[name].decision == "delivered" for name in names if name != "b")
    assert len(pools) >= 2  # the pool was made again


def _clip_header(path, frames: int) -> None:
    """A header of a 64x64 RGB clip of ``frames`` frames (its pixels are never decoded here)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.BitsAllocated, ds.NumberOfFrames = 3, 8, frames
    ds.save_as(path, enforce_file_format=True)


def test_long_clips_wait_for_each_other_and_smaller_files_go_past_them(tmp_path):
    """With room for one long clip at a time, no two are under way together; single frames still
    run beside them, and every file is scrubbed (the last clip too, however long the wait)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from scrubber.audit import FileReport
    from scrubber.batch import Job, _run_parallel

    jobs = []
    for index in range(4):
        for name, frames in ((f"clip{index}", 200), (f"frame{index}", 1)):
            _clip_header(tmp_path / name, frames)
            jobs.append(Job(tmp_path / name, name))
    clip = workers.CLIP_BYTES * 200 * 64 * 64 * 3
    lock, under_way, most, beside = threading.Lock(), set(), [0], [0]

    def task(batch, references, lead):
        with lock:
            under_way.update(job.rel for job in batch)
            clips = sum(name.startswith("clip") for name in under_way)
            most[0], beside[0] = max(most[0], clips), max(beside[0], len(under_way) - clips if clips else 0)
        time.sleep(0.05)
        with lock:
            under_way.difference_update(job.rel for job in batch)
        return [FileReport(rel=job.rel, decision="delivered") for job in batch], {}

    heard = {}
    _run_parallel(lambda: ThreadPoolExecutor(4), task, jobs, Policy(key=KEY), 4,
                  lambda job, r: heard.setdefault(job.rel, r), quarantine=None, budget=clip * 3 // 2)
    assert sorted(heard) == sorted(job.rel for job in jobs)
    assert most[0] == 1 and beside[0] >= 1
    most[0] = 0
    _run_parallel(lambda: ThreadPoolExecutor(4), task, jobs, Policy(key=KEY), 4, lambda job, r: None,
                  quarantine=None, budget=None)
    assert most[0] >= 2  # without a budget they do go side by side


def test_a_gate_starts_a_task_alone_however_large(monkeypatch):
    from scrubber.batch import Job
    from scrubber.grouping import Task

    big, small = Job("big", "big"), Job("small", "small")
    gate = workers.MemoryGate(100, {id(big): 1000, id(small): 1})
    assert gate.pick([Task([big])], []) == 0
    assert gate.pick([Task([big]), Task([small])], [Task([small])]) == 1
    assert gate.pick([Task([big])], [Task([small])]) is None
    assert workers.MemoryGate(None, {id(big): 1000}).pick([Task([big])], [Task([big])]) == 0
    monkeypatch.setattr(workers, "available_memory", lambda: 4 << 30)
    assert workers.memory_budget(2) == (4 << 30) - 2 * workers.WORKER_BASE


def test_the_command_line_picks_its_workers_and_says_how_many(tmp_path, monkeypatch, capsys):
    """``scrubber run`` without --workers: auto, here two worker processes for nine files."""
    monkeypatch.setattr(workers, "usable_cores", lambda: 2)
    monkeypatch.setattr(workers, "available_memory", lambda: 8 << 30)
    color3d_series(tmp_path / "in", list(range(0, 90, 10)))
    key = tmp_path / "K"
    assert main(["keygen", str(key)]) == 0
    assert main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "auto"), "--key-file", str(key)]) == 0
    assert ", 2 workers" in capsys.readouterr().out
    assert main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "one"), "--key-file", str(key),
                 "--workers", "1"]) == 0
    assert ", 1 worker" in capsys.readouterr().out
    assert _pixel_data(tmp_path / "auto", list((tmp_path / "in").iterdir())) == \
        _pixel_data(tmp_path / "one", list((tmp_path / "in").iterdir()))
