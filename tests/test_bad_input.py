"""Bad input is quarantined with one clear reason per file; the batch goes on; nothing leaks."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from scrubber.cli import main
from scrubber.errors import DetectFailed
from scrubber.pipeline import scrub_dataset
from scrubber.policy import Policy

from .util import SAMPLE, data_path, without_preamble

MARKER = "LEAKY^MARKER"


def _explicit(name: str) -> pydicom.Dataset:
    ds = pydicom.dcmread(data_path(name))
    ds.PatientName = MARKER
    return ds


def _save(ds: pydicom.Dataset, path: Path) -> None:
    ds.save_as(path, enforce_file_format=True)


def build_bad_inputs(folder: Path) -> dict[str, str]:
    """Write one file per kind of bad input; return name -> expected reason_code."""
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}

    (folder / "notes.txt").write_text(f"patient {MARKER} is not an image\n")
    expected["notes.txt"] = "not_dicom"

    raw = data_path("US1_UNCR.dcm").read_bytes()
    (folder / "truncated.dcm").write_bytes(raw[: len(raw) // 2])
    expected["truncated.dcm"] = "inconsistent_image"

    ds = _explicit("CT_small.dcm")
    del ds.PixelData
    _save(ds, folder / "no_pixels.dcm")
    expected["no_pixels.dcm"] = "no_pixel_data"

    ds = _explicit("CT_small.dcm")
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6"
    ds.save_as(folder / "unknown_syntax.dcm", implicit_vr=False, little_endian=True)
    expected["unknown_syntax.dcm"] = "unsupported_transfer_syntax"

    variants = [  # (source, name, reason_code, change)
        ("CT_small.dcm", "absurd.dcm", "too_large", dict(Rows=60000, Columns=60000, NumberOfFrames=1000)),
        ("CT_small.dcm", "long_pixels.dcm", "inconsistent_image", lambda ds: ds.PixelData + b"\0" * 512),
        ("CT_small.dcm", "short_pixels.dcm", "inconsistent_image", lambda ds: ds.PixelData[:-512]),
        ("CT_small.dcm", "impossible_bits.dcm", "inconsistent_image", dict(BitsStored=20)),
        ("OBXXXX1A.dcm", "bad_lut.dcm", "inconsistent_image",
         dict(RedPaletteColorLookupTableData=lambda ds: ds.RedPaletteColorLookupTableData[:100])),
        ("US1_UNCR.dcm", "photometric_mismatch.dcm", "inconsistent_image", dict(SamplesPerPixel=1)),
        ("US1_UNCR.dcm", "signed_colour.dcm", "inconsistent_image", dict(PixelRepresentation=1)),
        ("SC_rgb_jpeg_dcmtk.dcm", "frames_missing.dcm", "inconsistent_image", dict(NumberOfFrames=3)),
    ]
    for source, name, code, change in variants:
        ds = _explicit(source)
        values = change if isinstance(change, dict) else {"PixelData": change}
        for keyword, value in values.items():
            setattr(ds, keyword, value(ds) if callable(value) else value)
        _save(ds, folder / name)
        expected[name] = code

    shutil.copy(data_path("DICOMDIR"), folder / "DICOMDIR")
    return expected


def test_batch_quarantines_each_bad_file_and_goes_on(tmp_path, capsys):
    inputs = tmp_path / "in"
    expected = build_bad_inputs(inputs)
    shutil.copy(data_path("SC_rgb.dcm"), inputs / "good.dcm")
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}

    code = main(["run", str(inputs), "-o", str(tmp_path / "out"), "--device", "cpu"])
    captured = capsys.readouterr()

    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.dcm"]
    quarantine = tmp_path / "out.quarantine"
    for name, code_expected in expected.items():
        reason = json.loads((quarantine / f"{name}.reason.json").read_text())
        assert reason["reason_code"] == code_expected, name
        assert (quarantine / name).read_bytes() == before[name]
        error_lines = [line for line in captured.err.splitlines() if f" {name}: " in line]
        assert len(error_lines) == 1, (name, captured.err)
    assert not (quarantine / "DICOMDIR").exists()
    assert "skipped" in captured.out
    # inputs untouched, no PHI anywhere in what we printed or wrote beside the outputs
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before
    assert MARKER not in captured.out + captured.err
    for path in [*quarantine.glob("*.json"), tmp_path / "out.audit.jsonl"]:
        assert MARKER not in path.read_text()
    audit = [json.loads(line) for line in (tmp_path / "out.audit.jsonl").read_text().splitlines()]
    assert len(audit) == len(expected) + 1
    assert all("rel" not in line for line in audit)


def test_max_samples_sets_the_size_above_which_a_file_is_too_large(tmp_path, capsys):
    """US1 holds 640 x 480 x 3 = 921,600 samples: refused under 800K, with the option named in its
    one error line, and delivered under 1M; a limit that is no count stops the run as a usage error."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(data_path("US1_UNCR.dcm"), inputs / "us.dcm")
    assert main(["run", str(inputs), "-o", str(tmp_path / "small"), "--device", "cpu", "--max-samples", "800K"]) == 1
    reason = json.loads((tmp_path / "small.quarantine" / "us.dcm.reason.json").read_text())
    assert reason["reason_code"] == "too_large"
    assert "--max-samples" in capsys.readouterr().err
    assert main(["run", str(inputs), "-o", str(tmp_path / "large"), "--device", "cpu", "--max-samples", "1M"]) == 0
    assert (tmp_path / "large" / "us.dcm").exists()
    with pytest.raises(SystemExit) as stop:
        main(["run", str(inputs), "-o", str(tmp_path / "none"), "--max-samples", "0"])
    assert stop.value.code == 2


def test_detector_failure_quarantines_instead_of_delivering():
    def broken(images, **kwargs):
        raise RuntimeError("no frame for you")

    ds = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    with pytest.raises(DetectFailed):
        scrub_dataset(ds, Policy(device="cpu"), detector=broken)


def test_output_inside_input_is_refused(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    shutil.copy(data_path("SC_rgb.dcm"), tmp_path / "in" / "a.dcm")
    assert main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "in" / "out")]) == 2
    assert "inside the input folder" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["-o", "--quarantine", "--qa", "--audit", "--table"])
def test_a_place_the_run_cannot_write_is_refused_before_any_file(tmp_path, capsys, where):
    """Under a plain file nothing can be made: one line naming the place, exit 2, nothing scrubbed
    and no folder left behind by the check."""
    (tmp_path / "in").mkdir()
    shutil.copy(data_path("SC_rgb.dcm"), tmp_path / "in" / "a.dcm")
    (tmp_path / "plain").write_text("not a folder")
    blocked = tmp_path / "plain" / "sub" / "x"
    args = {"-o": ["-o", str(blocked)]}.get(where, ["-o", str(tmp_path / "out"), where, str(blocked)])
    assert main(["run", str(tmp_path / "in"), *args, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "cannot be written" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "plain"]


def test_an_audit_inside_the_input_folder_is_refused(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    shutil.copy(data_path("SC_rgb.dcm"), tmp_path / "in" / "a.dcm")
    assert main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                 "--audit", str(tmp_path / "in" / "audit.jsonl")]) == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["--quarantine", "--qa", "--table"])
def test_a_place_that_holds_the_inputs_phi_is_refused_inside_the_output(tmp_path, capsys, where):
    """The output folder is what gets handed on: the quarantine (inputs as they came), the QA
    pictures (each input's pixels beside the result) and the table (input paths) are refused in it
    or as it, one line and exit 2, before any file is scrubbed or any folder made."""
    (tmp_path / "in").mkdir()
    shutil.copy(data_path("SC_rgb.dcm"), tmp_path / "in" / "a.dcm")
    out = tmp_path / "out"
    for place in (out / "private", out):
        if where == "--table":
            place = place / "table.csv"
        assert main(["run", str(tmp_path / "in"), "-o", str(out), where, str(place), "--device", "cpu"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "inside the output folder" in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    assert main(["run", str(tmp_path / "in"), "-o", str(out), where, str(tmp_path / "beside"), "--device", "cpu"]) == 0


def test_an_output_named_dot_gets_its_audit_and_quarantine_beside_it(tmp_path, monkeypatch):
    """``-o .`` (or ``..``) has no name to put ``.audit.jsonl`` or ``.quarantine`` after: the run
    ended in a traceback, and ``..`` gave a quarantine "...quarantine" inside the output."""
    from scrubber.api import default_quarantine

    (tmp_path / "in").mkdir()
    shutil.copy(data_path("SC_rgb.dcm"), tmp_path / "in" / "a.dcm")
    (tmp_path / "out" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "out")
    assert main(["run", str(tmp_path / "in"), "-o", ".", "--device", "cpu"]) == 0
    assert (tmp_path / "out" / "a.dcm").is_file() and (tmp_path / "out.audit.jsonl").is_file()
    assert default_quarantine(Path(".")) == default_quarantine(Path("sub/..")) == tmp_path / "out.quarantine"


@pytest.mark.parametrize("content", [None, "not hex", "00ff"])
def test_a_key_file_that_is_missing_or_not_a_key_is_a_usage_error(tmp_path, capsys, content):
    key = tmp_path / "key"
    if content is not None:
        key.write_text(content)
    with pytest.raises(SystemExit) as refused:
        main(["run", str(data_path("SC_rgb.dcm")), "-o", str(tmp_path / "out"), "--key-file", str(key)])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(key) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_input_that_is_no_file_nor_folder_is_refused_and_an_empty_one_is_said(tmp_path, capsys):
    """A device or a pipe named as input is a usage error (it was walked as an empty folder); an
    input with no files in it is delivered vacuously, and the run says it found none."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    assert main(["run", str(pipe), "-o", str(tmp_path / "out")]) == 2
    assert "is neither a file nor a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["run", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 0
    assert "no files found in the inputs" in capsys.readouterr().err


def test_missing_input_is_a_usage_error(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope"), "-o", str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_encoded_pixels_that_do_not_round_trip_are_refused(monkeypatch):
    """The post-encode verification catches a codec that changes pixels."""
    from scrubber.errors import EncodeFailed
    from scrubber.pixels import encode as encode_module
    from scrubber.pixels.decode import decode

    ds = pydicom.dcmread(data_path("SC_rgb.dcm"))
    frames = decode(ds, 1 << 30)
    wrong = frames.stored.copy()
    wrong[0, 0, 0, 0] ^= 1
    ds.PixelData = np.ascontiguousarray(frames.stored).tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    with pytest.raises(EncodeFailed):
        encode_module.verify(ds, wrong)
    encode_module.verify(ds, frames.stored)


def test_verification_frame_by_frame_sees_the_last_frame_and_the_count():
    """Written frames are decoded one at a time: a change in the last frame of a clip, or a frame
    too many or too few, still fails."""
    from scrubber.errors import EncodeFailed
    from scrubber.pixels import encode as encode_module
    from scrubber.pixels.decode import decode

    ds = pydicom.dcmread(data_path("emri_small_RLE.dcm"))
    frames = decode(ds, 1 << 30)
    assert frames.count == 10
    encode_module.verify(ds, frames.stored)
    wrong = frames.stored.copy()
    wrong[-1, -1, -1, 0] ^= 1
    with pytest.raises(EncodeFailed, match="does not match"):
        encode_module.verify(ds, wrong)
    for other in (frames.stored[:-1], np.concatenate([frames.stored, frames.stored[:1]])):
        with pytest.raises(EncodeFailed, match="geometry"):
            encode_module.verify(ds, other)


def test_missing_model_fails_every_file_into_quarantine(tmp_path, monkeypatch, capsys):
    """Weights that cannot be loaded: nothing is delivered, every input is kept in quarantine."""
    from scrubber.detect import registry

    def no_model(*args, **kwargs):
        raise RuntimeError("weights missing")

    monkeypatch.setattr(registry, "detector_for", no_model)
    (tmp_path / "in").mkdir()
    shutil.copy(data_path("SC_rgb.dcm"), tmp_path / "in" / "a.dcm")
    assert main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--device", "cpu"]) == 1
    assert not (tmp_path / "out" / "a.dcm").exists()
    reason = json.loads((tmp_path / "out.quarantine" / "a.dcm.reason.json").read_text())
    assert reason["reason_code"] == "detector_unavailable"
    assert "FAILED a.dcm" in capsys.readouterr().err


def _damaged_meta(path: Path) -> None:
    """A file whose Media Storage SOP Class UID holds a name (damaged, or written by a bad tool)."""
    ds = _explicit("CT_small.dcm")
    with pydicom.config.disable_value_validation():
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840." + MARKER * 6
        ds.save_as(path, enforce_file_format=False)


def test_walking_the_inputs_prints_no_header_value(tmp_path):
    import warnings

    from scrubber.batch import walk

    _damaged_meta(tmp_path / "damaged_meta.dcm")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        str(pydicom.filereader.read_file_meta_info(tmp_path / "damaged_meta.dcm").MediaStorageSOPClassUID)
        assert any(MARKER in str(w.message) for w in caught), "pydicom quotes the value it complains about"
        caught.clear()
        jobs, _ = walk([tmp_path])
    assert [job.rel for job in jobs] == ["damaged_meta.dcm"]
    assert caught == []


def test_a_codec_panic_fails_one_file_and_the_batch_goes_on(tmp_path, monkeypatch, capsys):
    """A Rust codec's panic is a BaseException (pyo3's PanicException): it must not end the run."""
    import scrubber.files as files

    panic = type("PanicException", (BaseException,), {})

    def explode(ds, *args, **kwargs):
        if "RLE" in str(ds.file_meta.TransferSyntaxUID.name):
            raise panic("index out of bounds")
        return real(ds, *args, **kwargs)

    real = files.scrub_dataset
    monkeypatch.setattr(files, "scrub_dataset", explode)
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(data_path("MR_small_RLE.dcm"), inputs / "a_rle.dcm")
    shutil.copy(data_path("CT_small.dcm"), inputs / "b_plain.dcm")
    code = main(["run", str(inputs), "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert code == 1
    assert [p.name for p in (tmp_path / "out").iterdir() if p.is_file()] == ["b_plain.dcm"]
    reason = json.loads((tmp_path / "out.quarantine" / "a_rle.dcm.reason.json").read_text())
    assert reason["reason_code"] == "internal_error"


def test_a_damaged_element_length_in_the_meta_group_is_not_dicom(tmp_path):
    """pydicom raises its own BytesLengthException (no OSError, no ValueError) on such a file."""
    from scrubber.errors import NotDicom
    from scrubber.read import read

    raw = bytearray(data_path("CT_small.dcm").read_bytes())
    at = raw.index(b"\x02\x00\x00\x00UL") + 6  # (0002,0000) Group Length: its 2-byte length field
    raw[at:at + 2] = (6).to_bytes(2, "little")  # 6 bytes for a 4-byte UL
    (tmp_path / "damaged.dcm").write_bytes(bytes(raw))
    with pytest.raises(NotDicom, match="BytesLengthException"):
        read(tmp_path / "damaged.dcm")


def test_a_damaged_element_deep_in_the_header_fails_at_reading(tmp_path):
    """pydicom parses an element when it is first used; one with a garbled VR must not surface later
    (in the ultrasound regions, the header cleaner) as an unexpected error."""
    from scrubber.errors import NotDicom
    from scrubber.read import read

    for tag in (b"\x28\x00\x01\x01US", b"\x02\x00\x12\x00UI"):  # Bits Stored; Implementation Class UID
        raw = bytearray(data_path("CT_small.dcm").read_bytes())
        at = raw.index(tag)
        raw[at + 4:at + 6] = b"TS"  # no such VR
        (tmp_path / "garbled_vr.dcm").write_bytes(bytes(raw))
        with pytest.raises(NotDicom, match="a data element cannot be parsed"):
            read(tmp_path / "garbled_vr.dcm")


def test_a_data_set_without_preamble_and_file_meta_is_cleaned_and_written_as_a_part_10_file(tmp_path):
    """Older archives hold DICOM data sets without the Part 10 preamble and file meta: each is read
    as what it is and cleaned as its Part 10 twin is (same boxes, same pixels, PHI gone), and written
    with the file meta it lacked; a real one (pydicom's OT-PAL-8-face, palette colour) too."""
    from scrubber.api import scrub_paths

    ds = _explicit("US1_UNCR.dcm")
    (tmp_path / "in").mkdir()
    without_preamble(ds, tmp_path / "in" / "bare.dcm")
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    _save(ds, tmp_path / "in" / "twin.dcm")
    shutil.copy(data_path("OT-PAL-8-face.dcm"), tmp_path / "in" / "face.dcm")
    assert (tmp_path / "in" / "bare.dcm").read_bytes()[128:132] != b"DICM"
    summary = scrub_paths([tmp_path / "in"], tmp_path / "out", Policy(device="cpu", key=b"k" * 32))
    reports = {r.rel: r for r in summary.reports}
    delivered = dict.fromkeys(("bare.dcm", "twin.dcm", "face.dcm"), "delivered")
    assert {rel: r.decision for rel, r in reports.items()} == delivered
    assert reports["bare.dcm"].boxes == reports["twin.dcm"].boxes and reports["bare.dcm"].boxes[0]
    bare, twin = (pydicom.dcmread(tmp_path / "out" / name) for name in ("bare.dcm", "twin.dcm"))  # no force: Part 10
    assert bare.file_meta.TransferSyntaxUID == pydicom.uid.ImplicitVRLittleEndian
    assert bare.file_meta.MediaStorageSOPInstanceUID == bare.SOPInstanceUID != ds.SOPInstanceUID
    np.testing.assert_array_equal(bare.pixel_array, twin.pixel_array)
    assert MARKER.encode() not in (tmp_path / "out" / "bare.dcm").read_bytes()
    face = pydicom.dcmread(tmp_path / "out" / "face.dcm")
    assert face.file_meta.MediaStorageSOPClassUID == face.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage


def test_a_file_that_is_neither_part_10_nor_a_data_set_is_not_dicom(tmp_path):
    from scrubber.errors import NotDicom
    from scrubber.read import read

    for name, data in (("notes.txt", b"patient DOE^JANE\n"), ("empty.dcm", b""), ("zeros.dcm", bytes(4096)),
                       ("icc.dcm", data_path("crayons.icc").read_bytes())):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(NotDicom, match="not a DICOM data set without one"):
            read(tmp_path / name)


def test_a_file_with_file_meta_but_no_preamble_keeps_its_transfer_syntax(tmp_path):
    from scrubber.read import read

    ds = pydicom.dcmread(data_path("SC_rgb_rle.dcm"))  # encapsulated: only its file meta can say RLE
    got = read(without_preamble(ds, tmp_path / "meta.dcm", with_meta=True))
    assert got.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
    np.testing.assert_array_equal(got.pixel_array, ds.pixel_array)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_named_in_the_reason_and_leaves_no_output(tmp_path, monkeypatch):
    """Writing on a full disk (/dev/full: every write fails with ENOSPC, through pydicom, which
    wraps the error with the tag it was writing): quarantined as write_failed, the system's words in
    the reason, no path in it."""
    from scrubber import files

    def onto_full_disk(dst, fill):
        with open("/dev/full", "wb", buffering=0) as handle:
            fill(handle)

    monkeypatch.setattr(files, "atomic_write", onto_full_disk)
    dst = tmp_path / "secret-name" / "out.dcm"
    report = files.scrub_file(SAMPLE / "us_textfree.dcm", dst, Policy(device="cpu"))
    assert (report.decision, report.reason_code) == ("quarantined", "write_failed")
    assert report.reason == "writing the output failed (OSError: No space left on device)"
    assert not dst.exists()


def test_a_quarantine_that_cannot_be_written_fails_that_file_and_the_batch_goes_on(tmp_path, monkeypatch):
    """A full quarantine disk: the file that could not be kept is reported failed
    (``quarantine_failed``, the first reason and the system's words), nothing half-copied stays,
    and the other files are delivered; before, the run stopped with a traceback."""
    import errno

    from scrubber import files
    from scrubber.api import scrub_paths

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "junk.bin").write_bytes(b"not DICOM at all" * 64)
    shutil.copy(SAMPLE / "us_textfree.dcm", tmp_path / "in" / "good.dcm")
    quarantine = tmp_path / "q"
    real = files.atomic_write

    def full_under_quarantine(dst, fill):
        if quarantine in dst.parents:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(dst, fill)

    monkeypatch.setattr(files, "atomic_write", full_under_quarantine)
    summary = scrub_paths([tmp_path / "in"], tmp_path / "out", Policy(device="cpu"), quarantine=quarantine)
    reports = {r.rel: r for r in summary.reports}
    assert reports["good.dcm"].decision == "delivered"
    junk = reports["junk.bin"]
    assert (junk.decision, junk.reason_code) == ("failed", "quarantine_failed")
    assert junk.reason.startswith("not a DICOM file")
    assert junk.reason.endswith("its quarantine copy could not be written (OSError: No space left on device)")
    assert not quarantine.exists() or not list(quarantine.rglob("*"))
    audit = [json.loads(line) for line in (tmp_path / "out.audit.jsonl").read_text().splitlines()]
    assert sorted(line["reason_code"] for line in audit) == ["", "quarantine_failed"]
