"""A cut or damaged compressed frame is refused, not decoded quietly and delivered."""
from __future__ import annotations

import copy
import json
import os

import imagecodecs
import libjpeg
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

from scrubber.errors import DecodeFailed
from scrubber.files import scrub_file
from scrubber.pixels import frame_checks
from scrubber.pixels.decode import decode
from scrubber.pixels.syntax import readable_syntaxes, rule_for
from scrubber.policy import Policy
from scrubber.quiet import native_stderr

from .util import data_path

CLIP = "examples_ybr_color.dcm"  # 30 frames of JPEG baseline, YBR_FULL_422
FRAME = 3


def _with_frame(name: str, index: int, change) -> pydicom.Dataset:
    ds = pydicom.dcmread(data_path(name))
    count = int(ds.get("NumberOfFrames", 1) or 1)
    fragments = list(generate_frames(ds.PixelData, number_of_frames=count))
    fragments[index] = change(fragments[index])
    out = copy.deepcopy(ds)
    out.PixelData = encapsulate(fragments, has_bot=count > 1)
    return out


def _flip(offset: int):
    """One bit flipped in the entropy-coded data at ``offset`` (found by trying offsets: libjpeg and
    libjpeg-turbo part ways after it; the test below shows that they do)."""
    def change(fragment: bytes) -> bytes:
        data = bytearray(fragment)
        data[offset] ^= 0x10
        return bytes(data)
    return change


DAMAGED = [(CLIP, FRAME, 30, 5050, "YCBCR"), ("JPEG-LL.dcm", 0, 1, 60546, None)]  # lossy, lossless


def test_every_check_the_table_names_exists():
    named = {check for uid in readable_syntaxes() for check in rule_for(uid).checks}
    assert named <= set(frame_checks.CHECKS)
    assert rule_for("1.2.840.10008.1.2.4.50").checks == ("end_marker", "second_decoder")


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "US1_J2KI.dcm", "JPGExtended.dcm",
                                  "SC_rgb_jpeg_dcmtk.dcm", "JPEG-LL.dcm"])
def test_whole_frames_pass_fill_bytes_after_the_end_marker_included(name):
    ds = pydicom.dcmread(data_path(name))
    assert decode(ds, 1 << 30).count >= 1


def test_a_cut_frame_is_refused():
    ds = _with_frame(CLIP, FRAME, lambda fragment: fragment[: len(fragment) * 2 // 3])
    with pytest.raises(DecodeFailed, match=r"frame 4 of 30 has no end marker"):
        decode(ds, 1 << 30)


@pytest.mark.parametrize("name, index, count, offset, colour", DAMAGED, ids=["lossy", "lossless"])
def test_a_frame_two_decoders_read_differently_is_refused(name, index, count, offset, colour):
    ds = _with_frame(name, index, _flip(offset))
    damaged = list(generate_frames(ds.PixelData, number_of_frames=count))[index]
    ours = libjpeg.decode(damaged, 0).astype(int)
    turbo = imagecodecs.jpeg8_decode(damaged, colorspace=colour, outcolorspace=colour).astype(int)
    differ = np.abs(ours.reshape(turbo.shape) - turbo) > 32
    assert np.count_nonzero(differ if differ.ndim == 2 else differ[..., 0]) > 100  # a viewer shows other pixels
    with pytest.raises(DecodeFailed, match=rf"frame {index + 1} of {count} decodes differently"):
        decode(ds, 1 << 30)


def test_the_damaged_file_goes_to_quarantine_untouched(tmp_path, detector):
    src = tmp_path / "damaged.dcm"
    _with_frame(CLIP, FRAME, _flip(5050)).save_as(src, enforce_file_format=True)
    before = src.read_bytes()
    report = scrub_file(src, tmp_path / "out" / "damaged.dcm", Policy(device="cpu"), quarantine=tmp_path / "q",
                        detector=detector)
    assert (report.decision, report.reason_code) == ("quarantined", "decode_failed")
    assert not (tmp_path / "out" / "damaged.dcm").exists()
    assert (tmp_path / "q" / "damaged.dcm").read_bytes() == before == src.read_bytes()
    assert json.loads((tmp_path / "q" / "damaged.dcm.reason.json").read_text())["reason_code"] == "decode_failed"


def test_a_check_that_cannot_run_refuses_the_file(monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("no frames")

    monkeypatch.setitem(frame_checks.STREAM_CHECKS, "end_marker", broken)
    with pytest.raises(DecodeFailed, match=r"frame checks could not run \(ValueError\)"):
        decode(pydicom.dcmread(data_path(CLIP)), 1 << 30)


def _zeroed_first_frame() -> pydicom.Dataset:
    """color3d's first frame alone, four bytes of its entropy-coded data zeroed: libjpeg warns that
    the data segment ended early, and both decoders read the frame alike, so it passes the checks."""
    ds = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames))))
    frame[13168:13172] = bytes(4)
    ds.PixelData = encapsulate([bytes(frame)])
    ds.NumberOfFrames = 1
    return ds


def test_libjpeg_messages_stay_off_stderr(tmp_path, capfd, detector):
    import jpeglib

    ds = _zeroed_first_frame()
    damaged = next(generate_frames(ds.PixelData, number_of_frames=1))
    (tmp_path / "frame.jpg").write_bytes(damaged)
    jpeglib.read_dct(str(tmp_path / "frame.jpg"))
    assert "Corrupt JPEG data" in capfd.readouterr().err  # what libjpeg prints on its own
    src = tmp_path / "zeroed.dcm"
    ds.save_as(src, enforce_file_format=True)
    report = scrub_file(src, tmp_path / "out" / "zeroed.dcm", Policy(device="cpu"), quarantine=tmp_path / "q",
                        detector=detector)
    assert (report.decision, report.encode_method) == ("delivered", "jpeg_dct")
    assert capfd.readouterr().err == ""


# bits flipped in SC_rgb_jpeg_lossy_gdcm.dcm by benchmarks/damaged.py (--seed 11, its "flip2"): (offset, xor)
FLIPS = ((1024, 16), (1669, 16), (1759, 4), (2003, 4), (2129, 4), (2139, 1), (2228, 4), (2521, 2), (2730, 2),
         (2799, 2), (2891, 2), (3170, 1), (3196, 16), (3412, 8), (3617, 2), (3718, 16), (3728, 8), (4091, 8),
         (4233, 16), (4673, 1))


def test_a_coefficient_too_large_to_code_again_stays_off_stderr(tmp_path, capfd, detector):
    """Flipped bits that both decoders read alike, but that leave a DC coefficient beside a
    blanked block too far from it for libjpeg's encoder to code the difference: the DCT rewrite
    fails (libjpeg prints "DCT coefficient out of range" by itself) and the frame is written as
    Explicit VR Little Endian, with nothing but scrubber's own lines on stderr."""
    data = bytearray(data_path("SC_rgb_jpeg_lossy_gdcm.dcm").read_bytes())
    for offset, bits in FLIPS:
        data[offset] ^= bits
    src = tmp_path / "flipped.dcm"
    src.write_bytes(bytes(data))
    report = scrub_file(src, tmp_path / "out" / "flipped.dcm", Policy(device="cpu"), quarantine=tmp_path / "q",
                        detector=detector)
    assert (report.decision, report.encode_method) == ("delivered", "explicit_le") and any(report.boxes)
    assert capfd.readouterr().err == ""


def test_other_lines_written_meanwhile_still_reach_stderr(capfd):
    with native_stderr():
        os.write(2, b"Corrupt JPEG data: premature end of data segment\n")
        os.write(2, b"another thread's line\n")
    assert capfd.readouterr().err == "another thread's line\n"


def _longer_first_segment(fragment: bytes) -> bytes:
    """Two more pixels at the end of the first RLE segment (a replicate run), the header's later
    offsets moved to match: every segment is where the header says, the first is just too long."""
    header = np.frombuffer(fragment[:64], "<u4").copy()
    end = int(header[2]) if header[0] > 1 else len(fragment)
    header[2:1 + int(header[0])] += 2
    return header.tobytes() + fragment[64:end] + b"\xff\x00" + fragment[end:]


def test_an_rle_segment_longer_than_the_frame_is_refused():
    ds = _with_frame("MR_small_RLE.dcm", 0, _longer_first_segment)
    with pytest.warns(UserWarning, match="non-conformant padding"):
        pydicom.pixels.pixel_array(ds, decoding_plugin="pydicom")  # pydicom cuts it to size, and goes on
    with pytest.raises(DecodeFailed, match=r"frame 1 of 1 has an RLE segment of the wrong length"):
        decode(ds, 1 << 30)


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "SC_rgb_rle_16bit_2frame.dcm", "SC_rgb_rle_32bit.dcm",
                                  "OBXXXX1A_rle_2frame.dcm", "emri_small_RLE.dcm"])
def test_whole_rle_frames_pass(name):
    ds = pydicom.dcmread(data_path(name))
    assert decode(ds, 1 << 30).count == int(ds.get("NumberOfFrames", 1) or 1)
