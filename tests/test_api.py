"""The public API and CLI around the pipeline: inputs untouched, pool of workers, inspect, QA."""
from __future__ import annotations

import copy
import hashlib
import shutil

import pydicom
import pytest

from scrubber import Policy, scrub_dataset, scrub_file, scrub_paths
from scrubber.cli import main

from .util import SAMPLE, data_path


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_policy_is_immutable_and_validated():
    policy = Policy()
    with pytest.raises(Exception):
        policy.pad_px = 5  # type: ignore[misc]
    assert policy.replace(pad_px=5).pad_px == 5 and policy.pad_px != 5
    with pytest.raises(ValueError):
        Policy(renderings=("nonsense",))
    with pytest.raises(ValueError):
        Policy(key=b"short")
    assert "key=" not in repr(policy)


def test_scrub_dataset_leaves_its_input_alone(detector):
    ds = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    pristine = copy.deepcopy(ds)
    result = scrub_dataset(ds, Policy(device="cpu"), detector)
    assert ds == pristine and ds.PixelData == pristine.PixelData
    assert result.pixels_changed and result.boxes_removed > 0
    assert result.dataset.PixelData != ds.PixelData
    assert detector.name in result.detectors


def test_same_key_gives_the_same_output(tmp_path, detector):
    key = bytes(range(32))
    src = SAMPLE / "sc_16bit.dcm"
    first = scrub_file(src, tmp_path / "a.dcm", Policy(device="cpu", key=key), detector=detector)
    second = scrub_file(src, tmp_path / "b.dcm", Policy(device="cpu", key=key), detector=detector)
    assert first.decision == second.decision == "delivered"
    assert (tmp_path / "a.dcm").read_bytes() == (tmp_path / "b.dcm").read_bytes()


def test_two_worker_processes_deliver_the_same_files(tmp_path, detector):
    inputs = tmp_path / "in"
    (inputs / "nested" / "deeper").mkdir(parents=True)
    shutil.copy(data_path("US1_UNCR.dcm"), inputs / "nested" / "a")  # any file name
    shutil.copy(data_path("SC_rgb.dcm"), inputs / "nested" / "deeper" / "b.dcm")
    shutil.copy(SAMPLE / "us_textfree.dcm", inputs / "c.dcm")
    before = {p: _digest(p) for p in inputs.rglob("*") if p.is_file()}
    key = bytes(32)
    summary = scrub_paths([inputs], tmp_path / "out2", Policy(device="cpu", key=key), workers=2)
    single = scrub_paths([inputs], tmp_path / "out1", Policy(device="cpu", key=key), workers=1)
    assert summary.ok and single.ok
    for rel in ("nested/a", "nested/deeper/b.dcm", "c.dcm"):
        assert (tmp_path / "out2" / rel).read_bytes() == (tmp_path / "out1" / rel).read_bytes()
    assert {p: _digest(p) for p in before} == before
    text_free = pydicom.dcmread(tmp_path / "out2" / "c.dcm")
    assert text_free.PixelData == pydicom.dcmread(SAMPLE / "us_textfree.dcm").PixelData


def test_inspect_prints_boxes_and_writes_nothing(tmp_path, capsys, detector):
    src = tmp_path / "x.dcm"
    shutil.copy(data_path("US1_UNCR.dcm"), src)
    assert main(["inspect", str(src), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "would be blacked out" in out and "/full" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.dcm"]
    original = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    assert str(original.PatientName) not in out


def test_keygen_refuses_to_overwrite(tmp_path, capsys):
    key = tmp_path / "key"
    assert main(["keygen", str(key)]) == 0
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    assert (key.stat().st_mode & 0o777) == 0o600
    assert main(["keygen", str(key)]) == 2


def test_nothing_is_written_to_home_and_nothing_downloaded(tmp_path):
    """A run with an empty HOME leaves it empty (easyocr's Reader would create ~/.EasyOCR)."""
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "TORCH_HOME": str(home / ".torch"), "NO_PROXY": "*", "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9"}
    src = tmp_path / "x.dcm"
    shutil.copy(data_path("SC_rgb.dcm"), src)
    done = subprocess.run([sys.executable, "-m", "scrubber.cli", "inspect", str(src), "--device", "cpu"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(home.iterdir()) == []


def test_weights_with_a_wrong_digest_are_refused(monkeypatch):
    from scrubber.detect import models

    models.verified_path.cache_clear()
    monkeypatch.setitem(models.manifest()["craft_mlt_25k.pth"], "sha256", "0" * 64)
    try:
        with pytest.raises(models.ModelError, match="sha256"):
            models.verified_path("craft_mlt_25k.pth")
    finally:
        models.verified_path.cache_clear()


def test_cli_header_options_reach_the_output_and_the_audit(tmp_path, capsys, detector):
    import json

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(data_path("CT_small.dcm"), src / "ct.dcm")
    original = pydicom.dcmread(src / "ct.dcm")
    key = tmp_path / "key"
    assert main(["keygen", str(key)]) == 0
    out = tmp_path / "out"
    args = ["run", str(src), "-o", str(out), "--device", "cpu", "--key-file", str(key),
            "--option", "retain-uids", "--option", "retain-long-modified-dates"]
    assert main(args) == 0
    cleaned = pydicom.dcmread(out / "ct.dcm")
    assert cleaned.StudyInstanceUID == original.StudyInstanceUID
    assert cleaned.LongitudinalTemporalInformationModified == "MODIFIED"
    assert cleaned.StudyDate != original.StudyDate and len(cleaned.StudyDate) == 8
    codes = [i.CodeValue for i in cleaned.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113101", "113110", "113107"]
    line = json.loads((tmp_path / "out.audit.jsonl").read_text().splitlines()[0])
    assert line["header_options"] == ["retain_long_modified_dates", "retain_uids"]
    assert line["header_counts"]["dates_shifted"] > 0
    assert key.read_text().strip() not in (tmp_path / "out.audit.jsonl").read_text()

    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(["run", str(src), "-o", str(tmp_path / "o2"), "--option", "retain-long-full-dates",
              "--option", "retain-long-modified-dates"])
    assert refused.value.code == 2
    assert "exclude each other" in capsys.readouterr().err
