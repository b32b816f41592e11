"""`--rename uid`: outputs named by the cleaned header, never by input paths that hold names."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from scrubber import Policy, scrub_paths
from scrubber.batch import Job, scrub_jobs
from scrubber.cli import main
from scrubber.naming import held_values, safe_component, uid_path

from .util import data_path

KEY = b"0123456789abcdef0123456789abcdef"


def _inputs(root: Path, copy: bool = False) -> Path:
    """in/SMITH_JOHN/smith.dcm (CT) and in/SMITH_JOHN/mr/smith_mr.dcm (MR); ``copy``: CT twice."""
    folder = root / "in" / "SMITH_JOHN"
    (folder / "mr").mkdir(parents=True)
    shutil.copy(data_path("CT_small.dcm"), folder / "smith.dcm")
    shutil.copy(data_path("MR_small.dcm"), folder / "mr" / "smith_mr.dcm")
    if copy:
        shutil.copy(data_path("CT_small.dcm"), folder / "smith_copy.dcm")
    return root / "in"


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def test_safe_component_and_uid_path():
    assert safe_component("SMITH^JOHN 1/..\\x", "NO_PATIENT_ID") == "SMITH_JOHN_1_.._x"
    assert safe_component("", "NO_PATIENT_ID") == safe_component(None, "NO_PATIENT_ID") == "NO_PATIENT_ID"
    assert safe_component("  ", "NO_STUDY_UID") == "NO_STUDY_UID"
    assert safe_component(".", "X") == "_" and safe_component("..", "X") == "__"
    assert safe_component("1.2.840.10008", "X") == "1.2.840.10008"
    long_a, long_b = "9" * 300, "9" * 299 + "8"
    assert len(safe_component(long_a, "X")) == 128
    assert safe_component(long_a, "X") != safe_component(long_b, "X")
    assert uid_path(Dataset()) == Path("NO_PATIENT_ID/NO_STUDY_UID/NO_SERIES_UID/NO_SOP_UID.dcm")
    ds = Dataset()
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "..", "1.2", "1.2.3", "9" * 200
    path = uid_path(ds)
    assert path.parts[:3] == ("__", "1.2", "1.2.3") and len(path.name) == 128 and path.suffix == ".dcm"


def test_rename_uid_names_outputs_by_the_cleaned_header(tmp_path, detector):
    inputs = _inputs(tmp_path)
    before = {p: p.read_bytes() for p in inputs.rglob("*") if p.is_file()}
    policy = Policy(device="cpu", key=KEY)
    out, audit, qa = tmp_path / "out", tmp_path / "audit.jsonl", tmp_path / "qa"
    summary = scrub_paths([inputs], out, policy, rename="uid", audit=audit, qa=qa)
    assert summary.ok and len(summary.reports) == 2
    delivered = _files(out)
    assert len(delivered) == 2
    originals = {str(pydicom.dcmread(p).SOPInstanceUID): pydicom.dcmread(p) for p in before}
    for rel in delivered:
        parts = Path(rel).parts
        assert len(parts) == 4
        assert not any("SMITH" in part.upper() for part in parts)
        ds = pydicom.dcmread(out / rel)
        assert parts == (ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID, f"{ds.SOPInstanceUID}.dcm")
        assert all(uid.startswith("2.25.") for uid in parts[1:])
        assert ds.SOPInstanceUID not in originals  # the new UIDs, not the input's
        assert not any(str(o.PatientID) in parts[0] for o in originals.values())
    assert sorted(r.output for r in summary.reports) == delivered
    assert {p: p.read_bytes() for p in before} == before  # inputs untouched
    # the audit: output paths (pseudonyms only) in clear, input paths only as keyed digests
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert sorted(line["output"] for line in lines) == delivered
    assert "SMITH" not in audit.read_text().upper() and "rel" not in lines[0]
    # QA pictures are for the operator: under the input's relative path
    assert _files(qa) == ["SMITH_JOHN/mr/smith_mr.dcm.png", "SMITH_JOHN/smith.dcm.png"]


def test_rename_uid_gives_the_same_tree_across_runs_and_workers(tmp_path, detector):
    inputs = _inputs(tmp_path)
    first = scrub_paths([inputs], tmp_path / "out1", Policy(device="cpu", key=KEY), rename="uid")
    second = scrub_paths([inputs], tmp_path / "out2", Policy(device="cpu", key=KEY), rename="uid", workers=2)
    assert first.ok and second.ok
    assert _files(tmp_path / "out1") == _files(tmp_path / "out2") != []
    for rel in _files(tmp_path / "out1"):
        assert (tmp_path / "out1" / rel).read_bytes() == (tmp_path / "out2" / rel).read_bytes()


def test_rename_uid_quarantines_a_duplicate_output(tmp_path, detector):
    inputs = _inputs(tmp_path, copy=True)
    key_file = tmp_path / "key"
    key_file.write_text(KEY.hex() + "\n")
    out = tmp_path / "out"
    code, stdout, stderr = _cli(["run", str(inputs), "-o", str(out), "--rename", "uid", "--key-file", str(key_file),
                                 "--device", "cpu"])
    assert code == 1, stderr
    assert len(_files(out)) == 2  # CT once, MR once
    quarantine = tmp_path / "out.quarantine"
    assert _files(quarantine) == ["SMITH_JOHN/smith_copy.dcm", "SMITH_JOHN/smith_copy.dcm.reason.json"]
    assert (quarantine / "SMITH_JOHN" / "smith_copy.dcm").read_bytes() == data_path("CT_small.dcm").read_bytes()
    reason = json.loads((quarantine / "SMITH_JOHN" / "smith_copy.dcm.reason.json").read_text())
    assert reason["reason_code"] == "duplicate_output" and reason["decision"] == "quarantined"
    assert reason["output"] in _files(out)  # the path the first copy took: pseudonyms and UIDs only
    original = pydicom.dcmread(data_path("CT_small.dcm"))
    for value in (str(original.PatientID), str(original.PatientName), str(original.SOPInstanceUID), "SMITH"):
        assert value not in reason["reason"] and value not in json.dumps(reason)
    lines = [line for line in stderr.splitlines() if "QUARANTINED" in line]
    assert len(lines) == 1 and "smith_copy.dcm" in lines[0] and "same output path" not in stdout
    audit = [json.loads(line) for line in (tmp_path / "out.audit.jsonl").read_text().splitlines()]
    assert sorted(line["reason_code"] for line in audit) == ["", "", "duplicate_output"]


def test_keep_mode_protects_outputs_too(tmp_path, detector, monkeypatch):
    # two jobs with one output path (walk refuses that up front; the per-run claim catches it anyway)
    ct, mr = data_path("CT_small.dcm"), data_path("MR_small.dcm")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    reports = scrub_jobs([Job(ct, "SMITH_JOHN/x.dcm"), Job(mr, "SMITH_JOHN/x.dcm")], tmp_path / "out",
                         Policy(device="cpu", key=KEY), quarantine=tmp_path / "q")
    assert [r.decision for r in reports] == ["delivered", "quarantined"]
    assert reports[1].reason_code == "duplicate_output" and reports[0].output == reports[1].output == ""
    assert pydicom.dcmread(tmp_path / "out" / "SMITH_JOHN" / "x.dcm").Modality == pydicom.dcmread(ct).Modality
    assert list((tmp_path / "tmp").iterdir()) == []  # the run's claims are gone
    # two input roots with the same name: refused before anything is written (exit 2)
    for side in ("a", "b"):
        (tmp_path / side / "SMITH_JOHN").mkdir(parents=True)
        shutil.copy(ct, tmp_path / side / "SMITH_JOHN" / "smith.dcm")
    code, _, stderr = _cli(["run", str(tmp_path / "a" / "SMITH_JOHN"), str(tmp_path / "b" / "SMITH_JOHN"),
                            "-o", str(tmp_path / "out2"), "--device", "cpu"])
    assert code == 2 and "same output path" in stderr and not (tmp_path / "out2").exists()


def test_default_mode_keeps_relative_paths(tmp_path, detector):
    inputs = _inputs(tmp_path)
    code, _, stderr = _cli(["run", str(inputs), "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert code == 0, stderr
    assert _files(tmp_path / "out") == ["SMITH_JOHN/mr/smith_mr.dcm", "SMITH_JOHN/smith.dcm"]
    audit = [json.loads(line) for line in (tmp_path / "out.audit.jsonl").read_text().splitlines()]
    assert [line["output"] for line in audit] == ["", ""]
    assert "SMITH" not in (tmp_path / "out.audit.jsonl").read_text().upper()
    code, _, stderr = _cli(["run", str(inputs), "-o", str(tmp_path / "out_keep"), "--rename", "keep",
                            "--device", "cpu"])
    assert code == 0 and _files(tmp_path / "out_keep") == _files(tmp_path / "out")


def test_held_values_are_the_header_s_names_ids_and_uids_a_path_holds():
    """US1_UNCR's patient is "CompressedSamples^US1", its ID "13US1": its own file name holds a word
    of the name. Words match whole, IDs and dates whole, UIDs as they are; keywords, not values."""
    ds = pydicom.dcmread(data_path("US1_UNCR.dcm"), stop_before_pixels=True)
    assert held_values("US1_UNCR.dcm", ds) == ["PatientName"]
    assert held_values("study/image.dcm", ds) == [] and held_values("US10/X.dcm", ds) == []
    assert held_values(f"13us1/{ds.SOPInstanceUID}.dcm", ds) == ["PatientID", "SOPInstanceUID"]
    ds.OtherPatientIDs, ds.AccessionNumber = ["AB-778", "99887766"], "123"
    assert held_values("x/ab-778.dcm", ds) == ["OtherPatientIDs"] and held_values("x/99887766/a.dcm", ds) == [
        "OtherPatientIDs"]
    assert held_values("x/ab778/img_123.dcm", ds) == []  # a value of fewer than MIN_HELD characters is not looked for


def test_keep_mode_says_which_outputs_mirror_names_of_their_input_s_header(tmp_path, detector):
    """An export's folders named by patient name and ID: with --rename keep those names go into
    the output tree. The run delivers the file and says so (keywords only, in one line), the audit
    line lists the keywords; --rename uid names it by the cleaned header and says nothing."""
    folder = tmp_path / "in" / "DOE_JANE"
    folder.mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parent.parent / "sample_data" / "dicom" / "us_single.dcm",
                folder / "0012345678.dcm")
    code, _, stderr = _cli(["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert code == 0 and _files(tmp_path / "out") == ["DOE_JANE/0012345678.dcm"]
    assert "1 output path(s) hold a value of their input's header (PatientID, PatientName)" in stderr
    assert "DOE" not in stderr.upper() and "0012345678" not in stderr
    audit = json.loads((tmp_path / "out.audit.jsonl").read_text())
    assert audit["path_holds"] == ["PatientName", "PatientID"]
    code, _, stderr = _cli(["run", str(tmp_path / "in"), "-o", str(tmp_path / "renamed"), "--rename", "uid",
                            "--device", "cpu"])
    assert code == 0 and "hold a value" not in stderr
    assert json.loads((tmp_path / "renamed.audit.jsonl").read_text())["path_holds"] == []


def test_run_help_documents_rename(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--rename {keep,uid}" in capsys.readouterr().out
