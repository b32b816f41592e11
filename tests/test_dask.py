"""The Dask runner on a real LocalCluster (2 worker processes): the same outputs as the local runner."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster  # noqa: E402

import scrubber.dask as on_dask  # noqa: E402
from scrubber import Policy, scrub_paths  # noqa: E402
from scrubber.batch import walk  # noqa: E402
from scrubber.cli import main  # noqa: E402
from scrubber.detect.layouts import LayoutMemory, Reference  # noqa: E402
from scrubber.grouping import layout_groups  # noqa: E402

from .util import SAMPLE, data_path  # noqa: E402

KEY = bytes(32)


@pytest.fixture(scope="module")
def client():
    """One cluster for the module: starting one and loading the model in each worker costs seconds."""
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as connected:
        yield connected


def _inputs(root: Path, quarantined: bool = True) -> Path:
    """Real files: two of one layout in a series folder, another pair of one layout, a JPEG 2000
    file; with ``quarantined`` a file that is not DICOM and one without Pixel Data."""
    inputs = root / "in"
    (inputs / "series").mkdir(parents=True)
    shutil.copy(data_path("US1_UNCR.dcm"), inputs / "series" / "a.dcm")
    shutil.copy(data_path("US1_UNCR.dcm"), inputs / "series" / "b.dcm")
    shutil.copy(data_path("US1_J2KR.dcm"), inputs / "US1_J2KR.dcm")
    shutil.copy(SAMPLE / "us_single.dcm", inputs / "us_single.dcm")
    shutil.copy(SAMPLE / "us_textfree.dcm", inputs / "us_textfree.dcm")
    if quarantined:
        (inputs / "notes.txt").write_text("not an image\n")
        shutil.copy(data_path("rtplan.dcm"), inputs / "rtplan.dcm")
    return inputs


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _audit(path: Path) -> dict[str, dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for line in lines:
        line.pop("timings"), line.pop("seconds")
    return {line["file"]: line for line in lines}


def test_the_real_dask_package_is_imported():
    import dask

    assert Path(dask.__file__).parent.name == "dask" and "scrubber" not in dask.__file__
    assert on_dask.__name__ == "scrubber.dask"


def test_files_of_one_layout_form_one_group_in_walk_order(tmp_path):
    jobs, _ = walk([_inputs(tmp_path)])
    groups = layout_groups(jobs, Policy(key=KEY))
    rels = [[job.rel for job in group] for group in groups]
    assert ["series/a.dcm", "series/b.dcm"] in rels
    assert ["us_single.dcm", "us_textfree.dcm"] in rels
    assert ["notes.txt"] in rels and ["rtplan.dcm"] in rels and ["US1_J2KR.dcm"] in rels
    assert sorted(r for group in rels for r in group) == sorted(job.rel for job in jobs)
    no_reuse = layout_groups(jobs, Policy(key=KEY, reuse_layouts=False))
    assert all(len(group) == 1 for group in no_reuse)


def test_a_forgotten_layout_starts_a_new_group(monkeypatch, tmp_path):
    from scrubber import grouping

    monkeypatch.setattr(grouping, "MAX_LAYOUTS", 1)
    jobs, _ = walk([_inputs(tmp_path, quarantined=False)])
    order = ["series/a.dcm", "us_single.dcm", "series/b.dcm"]
    picked = [next(job for job in jobs if job.rel == rel) for rel in order]
    groups = layout_groups(picked, Policy(key=KEY))
    assert [[job.rel for job in group] for group in groups] == [[rel] for rel in order]


def test_a_layout_memory_can_be_cleared_and_started_from_anothers_references_sent_to_a_process():
    import pickle

    import numpy as np

    memory = LayoutMemory()
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    memory.put(("k",), Reference(image, ()))
    sent = pickle.loads(pickle.dumps(memory.snapshot()))
    memory.clear()
    assert memory.get(("k",)) is None
    started = LayoutMemory(items=sent).get(("k",))
    assert started is not None and np.array_equal(started.image, image)
    assert np.array_equal(started.grey, Reference(image, ()).grey)


def test_same_outputs_reasons_and_audit_as_the_local_runner(tmp_path, client):
    inputs = _inputs(tmp_path)
    local = scrub_paths([inputs], tmp_path / "local", Policy(device="cpu", key=KEY), workers=1)
    heard = []
    spread = on_dask.scrub_paths([inputs], tmp_path / "dask", Policy(device="cpu", key=KEY), client=client,
                                 progress=heard.append)
    assert [r.rel for r in spread.reports] == [r.rel for r in local.reports]
    assert sorted(r.rel for r in heard) == sorted(r.rel for r in local.reports)
    for ours, theirs in zip(spread.reports, local.reports):
        assert (ours.decision, ours.reason_code, ours.reason, ours.boxes, ours.detectors) == \
            (theirs.decision, theirs.reason_code, theirs.reason, theirs.boxes, theirs.detectors), ours.rel
    decisions = {r.rel: r.decision for r in spread.reports}
    assert decisions["notes.txt"] == decisions["rtplan.dcm"] == "quarantined"
    assert sum(d == "delivered" for d in decisions.values()) == 5
    assert "layout-reference" in next(r for r in spread.reports if r.rel == "series/b.dcm").detectors
    assert _files(tmp_path / "dask") == _files(tmp_path / "local")
    assert _files(tmp_path / "dask.quarantine") == _files(tmp_path / "local.quarantine")
    audit = _audit(tmp_path / "dask.audit.jsonl")
    assert len(audit) == len(spread.reports) == 7
    assert audit == _audit(tmp_path / "local.audit.jsonl")
    assert not list(tmp_path.glob(".dask.claims-*"))  # the run's claims are gone


def test_a_series_is_spread_over_the_cluster_with_the_local_runners_outputs(tmp_path, client):
    """The series' first file leads; its other files follow on both workers, each given the first
    file's reference: the outputs are the local serial run's, byte for byte."""
    from .util import color3d_series

    color3d_series(tmp_path / "in", [0, 25, 50, 75, 100, 119, 12, 37])
    policy = Policy(device="cpu", key=KEY)
    local = scrub_paths([tmp_path / "in"], tmp_path / "local", policy, workers=1)
    spread = on_dask.scrub_paths([tmp_path / "in"], tmp_path / "dask", policy, client=client)
    assert local.ok and spread.ok and spread.workers == 2
    assert [r.boxes for r in spread.reports] == [r.boxes for r in local.reports]
    assert all("layout-reference" in r.detectors for r in spread.reports[1:])
    assert _files(tmp_path / "dask") == _files(tmp_path / "local")


def test_a_first_file_whose_task_fails_for_good_is_reported_and_the_next_file_leads(tmp_path, monkeypatch):
    """A task that fails for good (its worker dying again and again; staged here on a cluster of
    threads) has its file reported ``worker_failed`` and quarantined; where that was a layout's
    first file, the layout's next file leads, and the others follow with its reference."""
    from .util import color3d_series

    first = color3d_series(tmp_path / "in", [0, 25, 50, 75])[0].name
    real = on_dask.scrub_group

    def dying(jobs, *args, **kwargs):
        if jobs[0].rel == first:
            raise RuntimeError("the worker died")
        return real(jobs, *args, **kwargs)

    monkeypatch.setattr(on_dask, "scrub_group", dying)
    with LocalCluster(n_workers=1, processes=False, threads_per_worker=2, dashboard_address=":0") as cluster, \
            Client(cluster) as threads:
        summary = on_dask.scrub_paths([tmp_path / "in"], tmp_path / "out", Policy(device="cpu", key=KEY),
                                      client=threads)
    failed, *others = summary.reports
    assert (failed.rel, failed.decision, failed.reason_code) == (first, "failed", "worker_failed")
    assert (tmp_path / "out.quarantine" / first).is_file()
    assert [r.decision for r in others] == ["delivered"] * 3
    assert "layout-reference" not in others[0].detectors  # it led
    assert all("layout-reference" in r.detectors for r in others[1:])


def test_a_resumed_run_on_the_cluster_skips_what_the_local_run_delivered(tmp_path, client):
    from scrubber.resume import RESUMED

    inputs = _inputs(tmp_path)
    policy = Policy(device="cpu", key=KEY)
    local = scrub_paths([inputs], tmp_path / "out", policy, workers=1)
    (tmp_path / "out" / "us_single.dcm").unlink()
    spread = on_dask.scrub_paths([inputs], tmp_path / "out", policy, client=client, resume=True)
    again = {r.rel for r in spread.reports if r.reason_code != RESUMED}
    assert again == {"us_single.dcm"} | {r.rel for r in local.reports if r.decision != "delivered"}
    assert [r.decision for r in spread.reports] == [r.decision for r in local.reports]


def test_table_has_one_row_per_file(tmp_path):
    from scrubber.audit import FileReport, write_table

    reports = [FileReport(rel="a.dcm", decision="delivered", frames=1, boxes=[[(0, 0, 1, 1)]], seconds=1.23456),
               FileReport(rel="b", decision="quarantined", reason_code="not_dicom", reason="not a DICOM file")]
    write_table(reports, tmp_path / "t.csv")
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert [row["file"] for row in rows] == ["a.dcm", "b"]
    assert rows[0]["boxes"] == "1" and rows[0]["seconds"] == "1.235" and rows[1]["reason_code"] == "not_dicom"


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def test_cli_dask_local_exit_code_1_when_a_file_is_quarantined(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SAMPLE / "sc_16bit.dcm", inputs / "sc.dcm")
    (inputs / "notes.txt").write_text("not an image\n")
    table = tmp_path / "table.csv"
    code, out, err = _cli(["run", str(inputs), "-o", str(tmp_path / "out"), "--dask", "local", "--workers", "2",
                           "--device", "cpu", "--table", str(table)])
    assert code == 1, err
    assert "QUARANTINED notes.txt" in err and "2/2 files" in err
    assert "quarantine:" in out and (tmp_path / "out" / "sc.dcm").exists()
    assert (tmp_path / "out.quarantine" / "notes.txt.reason.json").exists()
    assert len((tmp_path / "out.audit.jsonl").read_text().splitlines()) == 2
    assert {row["file"]: row["decision"] for row in csv.DictReader(table.open())} == \
        {"sc.dcm": "delivered", "notes.txt": "quarantined"}


def test_cli_dask_exit_code_0_when_all_are_delivered(tmp_path, client):
    """Local cluster of one worker, then the module's cluster through its scheduler address."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SAMPLE / "sc_16bit.dcm", inputs / "sc.dcm")
    code, out, err = _cli(["run", str(inputs), "-o", str(tmp_path / "out"), "--dask", "local", "--workers", "1",
                           "--device", "cpu", "--key-file", str(_key(tmp_path))])
    assert code == 0, err
    address = client.scheduler.address
    code, out, err = _cli(["run", str(inputs), "-o", str(tmp_path / "out2"), "--dask", address, "--device", "cpu",
                           "--key-file", str(_key(tmp_path))])
    assert code == 0, err
    assert (tmp_path / "out" / "sc.dcm").read_bytes() == (tmp_path / "out2" / "sc.dcm").read_bytes()


def _key(folder: Path) -> Path:
    path = folder / "key"
    if not path.exists():
        path.write_text(KEY.hex() + "\n")
    return path


@pytest.mark.parametrize("value", ["remote", "tcp://nohost", "http://host:8786", ""])
def test_cli_bad_dask_value_is_a_usage_error(tmp_path, value):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SAMPLE / "sc_16bit.dcm", inputs / "sc.dcm")
    code, _, err = _cli(["run", str(inputs), "-o", str(tmp_path / "out"), "--dask", value])
    assert code == 2 and "--dask" in err
    assert not (tmp_path / "out").exists()


def test_cli_unreachable_scheduler_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setattr(on_dask, "CONNECT_TIMEOUT_S", 1)
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SAMPLE / "sc_16bit.dcm", inputs / "sc.dcm")
    code, _, err = _cli(["run", str(inputs), "-o", str(tmp_path / "out"), "--dask", "tcp://127.0.0.1:9"])
    assert code == 2 and "no Dask scheduler" in err


def test_a_group_starts_with_no_layout_seen_and_may_run_twice(tmp_path, client):
    """The worker that scrubbed one file of a layout does not lend it to the next group, and a group
    task run again (its worker died) rewrites its own outputs instead of refusing them as duplicates."""
    from scrubber.batch import Job

    inputs = _inputs(tmp_path, quarantined=False)
    first, second = (Job(inputs / "series" / name, f"series/{name}") for name in ("a.dcm", "b.dcm"))
    claims = tmp_path / "claims"
    claims.mkdir()
    worker = sorted(client.scheduler_info()["workers"])[0]
    args = (tmp_path / "out", Policy(device="cpu", key=KEY), None, None, "keep", claims, 2)
    together, left = client.submit(on_dask.scrub_group, [first, second], *args, workers=[worker], pure=False).result()
    assert "layout-reference" in together[1].detectors and left == {}
    alone, _ = client.submit(on_dask.scrub_group, [second], *args, workers=[worker], pure=False).result()
    assert alone[0].decision == "delivered" and "layout-reference" not in alone[0].detectors
    led, reference = client.submit(on_dask.scrub_group, [first], *args, None, True, workers=[worker],
                                   pure=False).result()
    assert len(reference) == 1  # a group's first file hands back its layout's reference ...
    followed, _ = client.submit(on_dask.scrub_group, [second], *args, reference, workers=[worker], pure=False).result()
    assert followed[0].boxes == together[1].boxes  # ... and the next file meets it as in the group


def test_an_output_path_is_claimed_once_per_input(tmp_path):
    from scrubber.naming import claim

    dst = tmp_path / "out" / "a.dcm"
    assert claim(tmp_path, dst, "owner-1") and claim(tmp_path, dst, "owner-1")
    assert not claim(tmp_path, dst, "owner-2") and not claim(tmp_path, dst)
    anonymous = tmp_path / "b.dcm"
    assert claim(tmp_path, anonymous) and not claim(tmp_path, anonymous)  # no owner: once only
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".claim-")] == []


def test_warm_up_loads_one_detector_in_every_worker(client):
    loaded = on_dask.warm_up(client, Policy(device="cpu", key=KEY))
    assert len(loaded) == 2 and len(set(loaded.values())) == 1


def test_fsspec_urls_give_the_same_outputs_as_local_paths(tmp_path, client):
    """A folder named by a file:// URL goes through fsspec (listing, headers, fetch on the worker):
    the same outputs, quarantine and audit as the same folder given as a path."""
    inputs = _inputs(tmp_path)
    by_path = on_dask.scrub_paths([inputs], tmp_path / "paths", Policy(device="cpu", key=KEY), client=client)
    by_url = on_dask.scrub_paths([inputs.as_uri()], tmp_path / "urls", Policy(device="cpu", key=KEY),
                                 client=client)
    assert [r.rel for r in by_url.reports] == [r.rel for r in by_path.reports]
    assert [(r.decision, r.reason_code, r.boxes) for r in by_url.reports] == \
        [(r.decision, r.reason_code, r.boxes) for r in by_path.reports]
    assert "layout-reference" in next(r for r in by_url.reports if r.rel == "series/b.dcm").detectors
    assert _files(tmp_path / "urls") == _files(tmp_path / "paths")
    assert _files(tmp_path / "urls.quarantine") == _files(tmp_path / "paths.quarantine")
    assert _audit(tmp_path / "urls.audit.jsonl") == _audit(tmp_path / "paths.audit.jsonl")
    assert sorted(p.name for p in (tmp_path / "in").rglob("*")) == sorted(p.name for p in inputs.rglob("*"))


def test_urls_and_paths_mixed_are_prefixed_by_their_folder(tmp_path):
    from scrubber.dask import _jobs

    inputs = _inputs(tmp_path, quarantined=False)
    jobs, _ = _jobs([inputs.as_uri() + "/series", str(inputs / "US1_J2KR.dcm")])
    assert [(type(j.src).__name__, j.rel) for j in jobs] == \
        [("str", "series/a.dcm"), ("str", "series/b.dcm"), ("PosixPath", "US1_J2KR.dcm")]


def test_a_missing_url_or_unknown_protocol_is_a_usage_error(tmp_path):
    missing = (tmp_path / "nowhere").as_uri()
    assert main(["run", missing, "-o", str(tmp_path / "out"), "--dask", "local"]) == 2
    assert main(["run", "nosuchprotocol://x/y", "-o", str(tmp_path / "out"), "--dask", "local"]) == 2
    with pytest.raises(ValueError, match="Dask runner"):
        scrub_paths([missing], tmp_path / "out")


def test_a_url_that_cannot_be_fetched_fails_alone(tmp_path):
    from scrubber.batch import Job

    report = on_dask._run_fetched(Job((tmp_path / "gone.dcm").as_uri(), "gone.dcm"), tmp_path / "out",
                                  Policy(device="cpu"), tmp_path / "q", None, "keep", tmp_path)
    assert report.decision == "failed" and report.reason_code == "unreadable"
    assert str(tmp_path) not in report.reason
