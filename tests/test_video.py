"""Video transfer syntaxes (MPEG-2, H.264, HEVC): ultrasound cine stored as one video stream.

No test file comes as video: pydicom-data's color3d clip (real cardiac ultrasound, text burned
into every frame, annotated in tests/annotations) is encoded by FFmpeg through PyAV
(tests/util.video), scrubbed by ``scrub_file`` with the real detector, and checked against its
annotations in every frame, against the decoded input outside the boxes, and by dcmtk.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_fragments
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless

from scrubber.files import scrub_file
from scrubber.pixels.decode import decode
from scrubber.policy import Policy

from .util import ANNOTATIONS, data_path, video

FRAMES = 16
COVERED = 0.98


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return np.ascontiguousarray(pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm")).pixel_array[:FRAMES])


def _scrub(ds: pydicom.Dataset, tmp_path: Path, detector, **policy):
    src, dst = tmp_path / "in.dcm", tmp_path / "out" / "in.dcm"
    ds.save_as(src, enforce_file_format=True)
    report = scrub_file(src, dst, Policy(device="cpu", **policy), detector=detector)
    return src, dst, report


def _covered(boxes, box) -> float:
    mask = np.zeros((480, 640), bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    x0, y0, x1, y1 = box
    return float(mask[y0:y1, x0:x1].mean())


@pytest.mark.parametrize("syntax, fragment", [("1.2.840.10008.1.2.4.100", 0), ("1.2.840.10008.1.2.4.102", 0),
                                              ("1.2.840.10008.1.2.4.102.1", 50_000),
                                              ("1.2.840.10008.1.2.4.107", 0)])
def test_a_video_clip_is_scrubbed_in_every_frame_and_written_losslessly(clip, syntax, fragment, tmp_path, detector):
    """Every annotated label of color3d is covered in every frame; outside the boxes the output's
    pixels are the decoded stream's, exactly; it is JPEG 2000 Lossless (RGB through the RCT), as the
    syntax table says, and the audit records the change."""
    src, dst, report = _scrub(video(clip, syntax, fragment), tmp_path, detector)
    assert report.decision == "delivered", report.reason
    assert (report.syntax_in, report.syntax_out, report.encode_method) == (syntax, JPEG2000Lossless, "lossless")
    labels = json.loads((ANNOTATIONS / "color3d_jpeg_baseline.json").read_text())["boxes"]
    for label in labels:
        for frame in range(FRAMES) if label["frame"] is None else [label["frame"]] if label["frame"] < FRAMES else []:
            assert _covered(report.boxes[frame], label["box"]) >= COVERED, (label, frame)
    out = pydicom.dcmread(dst)
    assert (out.PhotometricInterpretation, int(out.PlanarConfiguration)) == ("YBR_RCT", 0)
    assert int(out.NumberOfFrames) == FRAMES
    decoded = decode(pydicom.dcmread(src), 1 << 30).stored
    written = out.pixel_array  # RGB: pydicom undoes the RCT
    for frame in range(FRAMES):
        outside = np.ones((480, 640), bool)
        for x0, y0, x1, y1 in report.boxes[frame]:
            outside[y0:y1, x0:x1] = False
        assert np.array_equal(written[frame][outside], decoded[frame][outside])
    if shutil.which("dcmdump"):
        done = subprocess.run(["dcmdump", "+P", "7fe0,0010", str(dst)], capture_output=True, text=True)
        assert done.returncode == 0 and "PixelData" in done.stdout
    if shutil.which("dciodvfy"):  # no new errors (color3d's header has its own)
        assert _dciodvfy_errors(dst) <= _dciodvfy_errors(src)


def _dciodvfy_errors(path: Path) -> int:
    done = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return sum(line.startswith("Error") for line in (done.stdout + done.stderr).splitlines())


def test_a_clip_with_nothing_to_remove_keeps_its_stream_byte_for_byte(tmp_path, detector):
    """A text-free clip (a grey blob drifting over black): nothing removed, so the file keeps
    its video syntax and its Pixel Data."""
    frames = np.zeros((8, 480, 640, 3), np.uint8)
    yy, xx = np.mgrid[:480, :640]
    for index in range(8):
        frames[index] = (120 * np.exp(-((xx - 200 - 20 * index) ** 2 + (yy - 240) ** 2) / 8000.0))[..., None]
    src, dst, report = _scrub(video(frames), tmp_path, detector)
    assert (report.decision, report.boxes_removed, report.syntax_out) == ("delivered", 0, "1.2.840.10008.1.2.4.102")
    assert pydicom.dcmread(dst).PixelData == pydicom.dcmread(src).PixelData


def test_a_clip_the_lossless_encoder_refuses_is_written_as_explicit_le(clip, tmp_path, detector, monkeypatch):
    """The fallback of every syntax: the redacted frames written natively, RGB, recorded."""
    from scrubber.pixels import encode

    def refuse(*args, **kwargs):
        raise RuntimeError("no JPEG 2000 encoder")

    monkeypatch.setattr(encode, "_compress", refuse)
    _, dst, report = _scrub(video(clip[:4]), tmp_path, detector)
    assert (report.decision, report.syntax_out, report.encode_method) == ("delivered", ExplicitVRLittleEndian,
                                                                          "explicit_le")
    out = pydicom.dcmread(dst)
    assert (out.PhotometricInterpretation, int(out.PlanarConfiguration)) == ("RGB", 0)


def test_with_keep_syntax_strict_a_redacted_video_goes_to_quarantine(clip, tmp_path, detector):
    _, dst, report = _scrub(video(clip[:4]), tmp_path, detector, keep_syntax="strict")
    assert (report.decision, report.reason_code) == ("quarantined", "syntax_not_kept")
    assert not dst.exists()


def _cut(ds: pydicom.Dataset) -> pydicom.Dataset:
    data = b"".join(generate_fragments(ds.PixelData))
    ds.PixelData = encapsulate([data[:len(data) // 2]], has_bot=False)
    return ds


def _flipped(ds: pydicom.Dataset) -> pydicom.Dataset:
    data = bytearray(b"".join(generate_fragments(ds.PixelData)))
    for place in np.random.default_rng(0).integers(len(data) // 4, len(data), 5):
        data[place] ^= 0x55
    ds.PixelData = encapsulate([bytes(data)], has_bot=False)
    return ds


def _frames(count: int):
    def change(ds: pydicom.Dataset) -> pydicom.Dataset:
        ds.NumberOfFrames = count
        return ds
    return change


def _garbage(ds: pydicom.Dataset) -> pydicom.Dataset:
    ds.PixelData = encapsulate([bytes(range(256)) * 64], has_bot=False)
    return ds


def _ten_bit(ds: pydicom.Dataset) -> pydicom.Dataset:
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 10, 9
    return ds


def _stereo(ds: pydicom.Dataset) -> pydicom.Dataset:
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.106"
    return ds


@pytest.mark.parametrize("change, reasons", [
    (_cut, ("decode_failed", "inconsistent_image")),  # the second half of the frames missing, the last cut
    (_frames(FRAMES + 3), ("inconsistent_image",)),  # the header promises frames the stream lacks
    (_frames(FRAMES - 3), ("inconsistent_image",)),  # the stream holds frames the header does not count
    (_garbage, ("decode_failed",)),
    (_flipped, ("decode_failed",)),  # FFmpeg hides the damage in the frames (other decoders may not) and says so
    (_ten_bit, ("unsupported_image",)),
    (_stereo, ("unsupported_transfer_syntax",)),  # FFmpeg decodes the first view of stereo H.264 only
])
def test_a_video_that_cannot_be_decoded_whole_goes_to_quarantine(clip, change, reasons, tmp_path, detector):
    _, dst, report = _scrub(change(video(clip)), tmp_path, detector)
    assert report.decision == "quarantined" and report.reason_code in reasons, report.reason
    assert not dst.exists()
