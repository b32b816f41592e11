"""Going on with an interrupted run (--resume): what the audit says was delivered is not scrubbed again."""
from __future__ import annotations

import json
import shutil

import pydicom
import pytest

from scrubber.api import scrub_paths
from scrubber.cli import main
from scrubber.policy import Policy
from scrubber.resume import RESUMED

from .util import SAMPLE, color3d_series

KEY = b"r" * 32


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _interrupted(inputs, out, policy, after: int, **options):
    """A run stopped by the user (Ctrl-C) once ``after`` files are done."""
    seen = []

    def progress(report):
        seen.append(report)
        if len(seen) == after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scrub_paths([inputs], out, policy, progress=progress, **options)


def test_a_resumed_run_scrubs_only_what_is_left_and_ends_as_an_uninterrupted_run(tmp_path):
    inputs = tmp_path / "in"
    shutil.copytree(SAMPLE, inputs)
    policy = Policy(device="cpu", key=KEY)
    whole = scrub_paths([inputs], tmp_path / "whole", policy)
    _interrupted(inputs, tmp_path / "out", policy, after=3)
    audit = tmp_path / "out.audit.jsonl"
    with audit.open("a") as handle:
        handle.write('{"file": "cut short by the interrup')  # the last line, half written
    resumed = scrub_paths([inputs], tmp_path / "out", policy, resume=True)
    assert resumed.ok and [r.rel for r in resumed.reports] == [r.rel for r in whole.reports]
    assert [r.reason_code == RESUMED for r in resumed.reports] == [True] * 3 + [False] * 3
    assert [r.boxes for r in resumed.reports] == [r.boxes for r in whole.reports]  # from the earlier lines
    assert _files(tmp_path / "out") == _files(tmp_path / "whole")
    lines = audit.read_text().splitlines()
    assert len(lines) == 3 + 1 + 3  # the earlier run's, the cut line, this run's own
    assert all(json.loads(line)["decision"] == "delivered" for line in lines[4:])  # not run into the cut line


def test_a_series_stopped_half_way_ends_as_the_uninterrupted_run_byte_for_byte(tmp_path):
    """Its later files are compared with the series' first: that one is scrubbed again (the same
    bytes) when the files compared with it are left."""
    color3d_series(tmp_path / "in", [0, 30, 60, 90, 119, 45])
    policy = Policy(device="cpu", key=KEY)
    whole = scrub_paths([tmp_path / "in"], tmp_path / "whole", policy)
    _interrupted(tmp_path / "in", tmp_path / "out", policy, after=2)
    resumed = scrub_paths([tmp_path / "in"], tmp_path / "out", policy, resume=True)
    assert [r.reason_code == RESUMED for r in resumed.reports] == [False, True] + [False] * 4
    assert _files(tmp_path / "out") == _files(tmp_path / "whole")
    assert [r.boxes for r in resumed.reports] == [r.boxes for r in whole.reports]


def test_a_file_is_scrubbed_again_when_its_output_settings_or_instance_changed(tmp_path):
    inputs = tmp_path / "in"
    shutil.copytree(SAMPLE, inputs)
    policy = Policy(device="cpu", key=KEY)
    scrub_paths([inputs], tmp_path / "out", policy)
    (tmp_path / "out" / "sc_form.dcm").unlink()  # its output is gone
    other = pydicom.dcmread(inputs / "sc_16bit.dcm")
    other.SOPInstanceUID = other.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    other.save_as(inputs / "sc_16bit.dcm")  # another instance at the same path
    again = scrub_paths([inputs], tmp_path / "out", policy, resume=True)
    scrubbed = {r.rel for r in again.reports if r.reason_code != RESUMED}
    assert scrubbed == {"sc_form.dcm", "sc_16bit.dcm"}
    faster = scrub_paths([inputs], tmp_path / "out", policy.replace(threads=1), resume=True)
    assert all(r.reason_code == RESUMED for r in faster.reports)  # threads change no output
    padded = scrub_paths([inputs], tmp_path / "out", policy.replace(pad_px=4), resume=True)
    assert not any(r.reason_code == RESUMED for r in padded.reports)  # other settings: nothing is skipped
    back = scrub_paths([inputs], tmp_path / "out", policy, resume=True)
    assert not any(r.reason_code == RESUMED for r in back.reports)  # OUT now holds the padded run's files


def test_with_uid_names_a_resumed_file_keeps_its_output_path_taken(tmp_path):
    inputs = tmp_path / "in"
    (inputs / "copy").mkdir(parents=True)
    shutil.copy(SAMPLE / "us_single.dcm", inputs / "us_single.dcm")
    policy = Policy(device="cpu", key=KEY, reuse_layouts=False)  # the copy is no later file of its layout
    first = scrub_paths([inputs], tmp_path / "out", policy, rename="uid")
    shutil.copy(SAMPLE / "us_single.dcm", inputs / "copy" / "us_single.dcm")  # the same instance again
    again = scrub_paths([inputs], tmp_path / "out", policy, rename="uid", resume=True)
    by_rel = {r.rel: r for r in again.reports}
    assert by_rel["us_single.dcm"].reason_code == RESUMED
    assert by_rel["us_single.dcm"].output == first.reports[0].output
    assert by_rel["copy/us_single.dcm"].reason_code == "duplicate_output"
    lines = [json.loads(line) for line in (tmp_path / "out.audit.jsonl").read_text().splitlines()]
    assert [line["decision"] for line in lines] == ["delivered", "quarantined"]
    assert len({line["settings"] for line in lines}) == 1


def test_resume_without_the_runs_key_is_a_usage_error(tmp_path, capsys):
    assert main(["run", str(SAMPLE), "-o", str(tmp_path / "out"), "--resume"]) == 2
    assert "--key-file" in capsys.readouterr().err


def test_a_run_into_an_earlier_runs_output_says_so_and_how_to_resume(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SAMPLE / "sc_16bit.dcm", inputs / "a.dcm")
    assert main(["run", str(inputs), "-o", str(tmp_path / "out")]) == 0
    assert "earlier run" not in capsys.readouterr().err
    assert main(["run", str(inputs), "-o", str(tmp_path / "out")]) == 0
    assert "holds an earlier run's lines" in capsys.readouterr().err


def test_ctrl_c_ends_the_files_under_way_starts_no_other_and_says_how_to_go_on(tmp_path, monkeypatch, capsys):
    from scrubber import batch
    from scrubber import cli

    color3d_series(tmp_path / "in", list(range(0, 120, 10)))
    monkeypatch.setattr(batch, "shares_model", lambda policy: True)  # workers as threads, in this process
    _interrupted(tmp_path / "in", tmp_path / "out", Policy(device="cpu", key=KEY), after=2, workers=2)
    assert len(list((tmp_path / "out").glob("*.dcm"))) < 12

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "scrub_paths", stopped)
    key = tmp_path / "K"
    assert main(["keygen", str(key)]) == 0
    assert main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--key-file", str(key)]) == 130
    assert "--resume goes on" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == 130
    assert "cannot be resumed" in capsys.readouterr().err
