"""`--keep-syntax strict`: a file leaves in its own transfer syntax or goes to quarantine.

Real files with burned-in text (US1_UNCR.dcm and its JPEG 2000 twin US1_J2KI.dcm from pydicom-data;
US1_UNCR converted by dcmtk and by pydicom's encoders) through the CLI and ``scrub_file`` with the
real detector: the reason file, the audit line and the exit code say why a file was kept out.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import (JPEG2000, ExplicitVRBigEndian, JPEGBaseline8Bit, JPEGLSLossless,
                         RLELossless)

from scrubber import Policy, scrub_file
from scrubber.cli import main
from scrubber.pixels import encode as encode_module

from .util import data_path

SOURCE = "US1_UNCR.dcm"
KEY = b"keep-syntax-key-0123456789abcdef"
needs_dcmtk = pytest.mark.skipif(shutil.which("dcmcjpeg") is None or shutil.which("dcmconv") is None,
                                 reason="dcmtk (dcmcjpeg, dcmconv) is not installed")


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def _pydicom_compressed(dst: Path, syntax: str) -> Path:
    """US1_UNCR in ``syntax`` by pydicom's own encoders (RLE, JPEG-LS lossless)."""
    ds = pydicom.dcmread(data_path(SOURCE))
    ds.compress(syntax, generate_instance_uid=False)
    ds.save_as(dst, enforce_file_format=True)
    return dst


def _dcmtk(dst: Path, *command: str) -> Path:
    subprocess.run([*command, str(data_path(SOURCE)), str(dst)], check=True, capture_output=True)
    return dst


def _syntax(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)


@needs_dcmtk
def test_strict_run_quarantines_a_syntax_change_and_delivers_kept_syntaxes(tmp_path, detector):
    inputs = tmp_path / "in"
    inputs.mkdir()
    baseline = _dcmtk(inputs / "baseline.dcm", "dcmcjpeg", "+eb")
    _pydicom_compressed(inputs / "rle.dcm", RLELossless)
    _pydicom_compressed(inputs / "jpeg_ls.dcm", JPEGLSLossless)
    _dcmtk(inputs / "big_endian.dcm", "dcmconv", "+tb")
    out = tmp_path / "out"

    code, stdout, stderr = _cli(["run", str(inputs), "-o", str(out), "--keep-syntax", "strict",
                                 "--no-jpeg-dct", "--device", "cpu"])

    assert code == 1, stderr
    delivered = {"rle.dcm": RLELossless, "jpeg_ls.dcm": JPEGLSLossless, "big_endian.dcm": ExplicitVRBigEndian}
    assert sorted(p.name for p in out.iterdir()) == sorted(delivered)
    for name, syntax in delivered.items():
        assert _syntax(out / name) == syntax
    quarantine = tmp_path / "out.quarantine"
    assert sorted(p.name for p in quarantine.iterdir()) == ["baseline.dcm", "baseline.dcm.reason.json"]
    assert (quarantine / "baseline.dcm").read_bytes() == baseline.read_bytes()
    reason = json.loads((quarantine / "baseline.dcm.reason.json").read_text())
    assert (reason["decision"], reason["reason_code"], reason["syntax_in"]) == (
        "quarantined", "syntax_not_kept", JPEGBaseline8Bit)
    assert "JPEG Baseline (Process 1)" in reason["reason"] and "Explicit VR Little Endian" in reason["reason"]
    lines = [line for line in stderr.splitlines() if "QUARANTINED" in line]
    assert len(lines) == 1 and "baseline.dcm" in lines[0] and "JPEG Baseline (Process 1)" in lines[0]
    audit = [json.loads(line) for line in (tmp_path / "out.audit.jsonl").read_text().splitlines()]
    assert sorted(line["reason_code"] for line in audit) == ["", "", "", "syntax_not_kept"]
    assert all(line["boxes_removed"] > 0 for line in audit if not line["reason_code"])

    code, _, stderr = _cli(["run", str(baseline), "-o", str(tmp_path / "auto"), "--no-jpeg-dct", "--device", "cpu"])
    assert code == 0, stderr  # auto writes it as Explicit VR Little Endian instead
    assert _syntax(tmp_path / "auto" / "baseline.dcm") == "1.2.840.10008.1.2.1"

    code, _, stderr = _cli(["run", str(baseline), "-o", str(tmp_path / "default"), "--keep-syntax", "strict",
                            "--device", "cpu"])
    assert code == 0, stderr  # by default JPEG stays JPEG (DCT-domain redaction), so strict delivers it
    assert _syntax(tmp_path / "default" / "baseline.dcm") == JPEGBaseline8Bit


@needs_dcmtk
def test_strict_delivers_jpeg_redacted_in_the_dct_domain(tmp_path, detector):
    src = _dcmtk(tmp_path / "baseline.dcm", "dcmcjpeg", "+eb")
    policy = Policy(device="cpu", key=KEY, keep_syntax="strict")  # jpeg_dct is the default
    report = scrub_file(src, tmp_path / "out.dcm", policy, detector=detector)
    assert report.decision == "delivered", report.reason
    assert (report.encode_method, report.syntax_out, _syntax(tmp_path / "out.dcm")) == (
        "jpeg_dct", JPEGBaseline8Bit, JPEGBaseline8Bit)


def test_strict_quarantines_lossy_jpeg_2000_only_when_it_would_change(tmp_path, detector, monkeypatch):
    """Kept at its own rate it is delivered; a frame that misses the lossy bounds would send it out
    as Explicit VR Little Endian, so strict keeps it out (and writes nothing)."""
    src = data_path("US1_J2KI.dcm")
    policy = Policy(device="cpu", key=KEY, keep_syntax="strict")
    kept = scrub_file(src, tmp_path / "kept.dcm", policy, detector=detector)
    assert kept.decision == "delivered", kept.reason
    assert (kept.encode_method, _syntax(tmp_path / "kept.dcm")) == ("same_rate", JPEG2000)

    monkeypatch.setattr(encode_module, "MIN_PSNR_DB", 1000.0)
    report = scrub_file(src, tmp_path / "out.dcm", policy, quarantine=tmp_path / "q", detector=detector)
    assert (report.decision, report.reason_code) == ("quarantined", "syntax_not_kept")
    assert report.reason == ("transfer syntax not kept: JPEG 2000 would be written as Explicit VR Little Endian "
                             "(keep_syntax strict)")
    assert not (tmp_path / "out.dcm").exists()
    assert json.loads((tmp_path / "q" / "US1_J2KI.dcm.reason.json").read_text())["reason_code"] == "syntax_not_kept"


def test_strict_delivers_a_file_whose_pixels_are_left_alone(tmp_path, detector):
    """No text found: the Pixel Data is kept byte for byte, and with it the JPEG syntax."""
    src = data_path("SC_rgb_jpeg_dcmtk.dcm")
    report = scrub_file(src, tmp_path / "out.dcm", Policy(device="cpu", key=KEY, keep_syntax="strict"),
                        detector=detector)
    assert report.decision == "delivered", report.reason
    assert (report.boxes_removed, report.encode_method, report.syntax_out) == (0, "unchanged", JPEGBaseline8Bit)
    assert pydicom.dcmread(tmp_path / "out.dcm").PixelData == pydicom.dcmread(src).PixelData


def test_keep_syntax_is_validated(tmp_path, capsys):
    assert Policy().keep_syntax == "auto"
    with pytest.raises(ValueError, match="keep_syntax"):
        Policy(keep_syntax="lax")  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(tmp_path), "-o", str(tmp_path / "out"), "--keep-syntax", "lax"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--keep-syntax" in capsys.readouterr().out
