"""Encapsulated syntaxes kept as they were: only the frames under a box are encoded again.

Every other frame must keep its fragment bytes exactly, and the written file must be readable by
pydicom and by dcmtk. JPEG-LS near-lossless keeps its NEAR: the new frame may differ by that much.
Lossy JPEG 2000 keeps its rate: the new frame is as large as the old one, its boxes dark and its PSNR
against the redacted frame high. HTJ2K (tests/test_htj2k.py) goes through the same checks.
"""
from __future__ import annotations

import copy
import math
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import jpeg_ls as jpeg_ls_codec
import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames
from pydicom.uid import (JPEG2000, ExplicitVRLittleEndian, HTJ2KLossless, HTJ2KLosslessRPCL, JPEG2000Lossless,
                         JPEGLSLossless, JPEGLSNearLossless, RLELossless)

from scrubber.pixels import encode as encode_module
from scrubber.pixels import jpeg_ls
from scrubber.pixels.decode import as_array, decode
from scrubber.pixels.encode import DARK_SHARE, MIN_PSNR_DB, encode
from scrubber.pixels.fill import fill_value
from scrubber.pixels.redact import redact

from .util import data_path, encapsulated_uncompressed, htj2k


def _read(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(data_path(name))


def _recompressed(name: str, syntax: str, photometric: str = "RGB",
                  **kwargs) -> Callable[[], pydicom.Dataset]:
    """A multi-frame colour file in ``syntax``, made from an RLE test file."""
    def make() -> pydicom.Dataset:
        ds = _read(name)
        arr = ds.pixel_array
        ds.PlanarConfiguration = 0
        ds.PhotometricInterpretation = photometric
        ds.compress(syntax, arr, generate_instance_uid=False, **kwargs)
        return ds
    return make


CASES: dict[str, Callable[[], pydicom.Dataset]] = {
    "emri_small_RLE.dcm": lambda: _read("emri_small_RLE.dcm"),  # 10 frames, 12-bit
    "emri_small_jpeg_ls_lossless.dcm": lambda: _read("emri_small_jpeg_ls_lossless.dcm"),
    "emri_small_jpeg_2k_lossless.dcm": lambda: _read("emri_small_jpeg_2k_lossless.dcm"),
    "SC_rgb_rle_2frame.dcm": lambda: _read("SC_rgb_rle_2frame.dcm"),  # RGB, 2 frames
    "SC_rgb_rle_16bit_2frame.dcm": lambda: _read("SC_rgb_rle_16bit_2frame.dcm"),
    "rgb_2frame_jpeg_ls": _recompressed("SC_rgb_rle_2frame.dcm", JPEGLSLossless),
    "rgb_2frame_j2k_rct": _recompressed("SC_rgb_rle_2frame.dcm", JPEG2000Lossless, "YBR_RCT", use_mct=True),
    "rgb_2frame_j2k": _recompressed("SC_rgb_rle_2frame.dcm", JPEG2000Lossless, use_mct=False),
    "rgb_2frame_htj2k_rct": lambda: htj2k("SC_rgb_rle_2frame.dcm", HTJ2KLossless, "YBR_RCT", reversible=True, rgb=True),
    "emri_small_htj2k_rpcl": lambda: htj2k("emri_small.dcm", HTJ2KLosslessRPCL, reversible=True, tlm=True, tilepart=1),
    "rgb_2frame_encapsulated_uncompressed": lambda: encapsulated_uncompressed("SC_rgb_rle_2frame.dcm"),
    "emri_small_encapsulated_uncompressed": lambda: encapsulated_uncompressed("emri_small.dcm"),
}


def _fragments(ds: pydicom.Dataset) -> list[bytes]:
    count = int(getattr(ds, "NumberOfFrames", 1) or 1)
    return list(generate_frames(ds.PixelData, number_of_frames=count))


def _dcmdump(ds: pydicom.Dataset, path: Path) -> None:
    """dcmtk must parse the written file, Pixel Data included."""
    dcmdump = shutil.which("dcmdump")
    if dcmdump is None:
        pytest.skip("dcmtk's dcmdump is not installed")
    ds.save_as(path, enforce_file_format=True)
    done = subprocess.run([dcmdump, "-q", "+E", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "PixelData" in done.stdout


def _written_back(ds, path, frames, encoded, touched):
    """Save ``ds`` (dcmdump must read it), read it back: every frame decodes as ``encode`` said,
    and the untouched ones as before."""
    _dcmdump(ds, path)
    back = pydicom.dcmread(path)
    arr, _ = as_array(back)
    arr = arr.reshape(frames.stored.shape).astype(np.int64)
    assert np.array_equal(arr, encoded.after)
    others = [index for index in range(frames.count) if index != touched]
    assert np.array_equal(arr[others], frames.stored[others])
    return back, arr


def _encode_one_box(original):
    """Redact one box in the middle frame and encode a copy: what every test here starts from."""
    frames = decode(original, 1 << 30)
    count, rows, cols = frames.stored.shape[:3]
    touched = count // 2
    box = (cols // 4, rows // 4, cols // 4 + max(2, cols // 5), rows // 4 + max(2, rows // 6))
    boxes = [[box] if index == touched else [] for index in range(count)]
    fill = fill_value(frames, original)
    redacted = redact(frames.stored, boxes, fill)
    ds = copy.deepcopy(original)
    return ds, frames, redacted, box, touched, fill, encode(ds, frames, redacted, boxes)


@pytest.mark.parametrize("name", sorted(CASES))
def test_only_the_touched_frame_is_encoded_again(name, tmp_path):
    original = CASES[name]()
    syntax = str(original.file_meta.TransferSyntaxUID)
    ds, frames, redacted, box, touched, fill, encoded = _encode_one_box(original)
    count, rows, cols = frames.stored.shape[:3]

    assert (encoded.syntax, encoded.method) == (syntax, "same")
    assert str(ds.PhotometricInterpretation) == str(original.PhotometricInterpretation)
    assert "ExtendedOffsetTable" not in ds
    before, after = _fragments(original), _fragments(ds)
    assert len(after) == count
    for index in range(count):
        if index != touched:
            assert after[index] == before[index], f"untouched frame {index} was re-encoded"
    assert after[touched] != before[touched]

    _dcmdump(ds, tmp_path / "out.dcm")
    back = pydicom.dcmread(tmp_path / "out.dcm")
    assert str(back.file_meta.TransferSyntaxUID) == syntax
    arr, _ = as_array(back)
    arr = arr.reshape(frames.stored.shape)
    assert np.array_equal(arr, redacted)
    inside = np.zeros((rows, cols), bool)
    inside[box[1]:box[3], box[0]:box[2]] = True
    assert (arr[touched][inside] == np.asarray(fill, arr.dtype)).all()
    assert np.array_equal(arr[touched][~inside], frames.stored[touched][~inside])


def test_extended_offset_table_is_not_left_pointing_at_old_fragments():
    original = _read("emri_small_RLE.dcm")
    frames = decode(original, 1 << 30)
    boxes = [[(4, 4, 20, 12)] if index == 3 else [] for index in range(frames.count)]
    redacted = redact(frames.stored, boxes, fill_value(frames, original))
    ds = copy.deepcopy(original)
    ds.ExtendedOffsetTable = b"\0" * 8 * frames.count
    ds.ExtendedOffsetTableLengths = b"\0" * 8 * frames.count

    encoded = encode(ds, frames, redacted, boxes)

    assert (encoded.syntax, encoded.method) == (RLELossless, "same")
    assert "ExtendedOffsetTable" not in ds and "ExtendedOffsetTableLengths" not in ds
    assert _fragments(ds)[0] == _fragments(original)[0]


def _near_lossless(name: str, error: int) -> pydicom.Dataset:
    ds = _read(name)
    if str(ds.file_meta.TransferSyntaxUID) != JPEGLSNearLossless:
        ds.compress(JPEGLSNearLossless, ds.pixel_array, jls_error=error, generate_instance_uid=False)
    return ds


NEAR_CASES = [
    ("emri_small.dcm", 2),  # 10 frames, 12-bit
    ("emri_small.dcm", 5),
    ("US1_UNCR.dcm", 2),  # RGB, 8-bit
    ("JPEGLSNearLossless_08.dcm", 2),  # a real near-lossless file
]


@pytest.mark.parametrize(("name", "error"), NEAR_CASES)
def test_near_lossless_reads_near_like_pyjpegls(name, error):
    ds = _near_lossless(name, error)
    for fragment in _fragments(ds):
        assert jpeg_ls.near(fragment) == jpeg_ls_codec.decode_buffer(fragment)[1]["allowed_lossy_error"]
        assert jpeg_ls.near(fragment) == error


def test_near_of_a_broken_codestream_is_refused():
    with pytest.raises(ValueError):
        jpeg_ls.near(b"\xff\xd8\xff\xda\x00")
    with pytest.raises(ValueError):
        jpeg_ls.near(b"not jpeg-ls")


@pytest.mark.parametrize(("name", "error"), NEAR_CASES)
def test_near_lossless_stays_near_lossless(name, error, tmp_path):
    original = _near_lossless(name, error)
    ds, frames, redacted, box, touched, fill, encoded = _encode_one_box(original)
    count, rows, cols = frames.stored.shape[:3]

    assert (encoded.syntax, encoded.method, encoded.tolerance) == (JPEGLSNearLossless, "same_near", error)
    before, after = _fragments(original), _fragments(ds)
    for index in range(count):
        if index != touched:
            assert after[index] == before[index], f"untouched frame {index} was re-encoded"
    assert jpeg_ls.near(after[touched]) == error

    back, arr = _written_back(ds, tmp_path / "out.dcm", frames, encoded, touched)
    inside = np.zeros((rows, cols), bool)
    inside[box[1]:box[3], box[0]:box[2]] = True
    assert np.abs(arr[touched][inside] - np.asarray(fill)).max() <= error
    assert np.abs(arr[touched][~inside] - frames.stored[touched][~inside]).max() <= error


def _lossy_j2k(name: str, ratio: float | None = None, photometric: str | None = None) -> pydicom.Dataset:
    """A lossy JPEG 2000 file: a real one as shipped (no ``ratio``), or ``name`` at ``ratio``."""
    ds = _read(name)
    if ratio is not None:
        arr = ds.pixel_array
        if photometric is not None:
            ds.PlanarConfiguration = 0
            ds.PhotometricInterpretation = photometric
        ds.compress(JPEG2000, arr, j2k_cr=[ratio], use_mct=photometric == "YBR_ICT",
                    generate_instance_uid=False)
    return ds


LOSSY_CASES = [
    ("US1_UNCR.dcm", 10, "YBR_ICT"),  # RGB through the ICT
    ("US1_UNCR.dcm", 8, "RGB"),  # RGB, no colour transform
    ("emri_small.dcm", 10, None),  # MR, 10 frames, 12-bit
    ("CT_small.dcm", 10, None),  # CT, signed 16-bit
    ("US1_J2KI.dcm", None, None),  # real: YBR_ICT, ratio 16
    ("693_J2KI.dcm", None, None),  # real: signed 14-bit, ratio ~300
    ("MR2_J2KI.dcm", None, None),  # real: 12-bit 1024x1024
    ("RG3_J2KI.dcm", None, None),  # real: MONOCHROME1 10-bit 1760x1760
    ("RG1_J2KI.dcm", None, None),  # real: MONOCHROME1 15-bit 1955x1841
]


def _psnr_db(after: np.ndarray, expected: np.ndarray, bits: int) -> float:
    mse = float(np.mean((after.astype(np.float64) - expected.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10((2**bits - 1) ** 2 / mse)


def _check_lossy(original, ds, frames, redacted, box, touched, fill, encoded,
                 tmp_path) -> tuple[float, float]:
    """What a same_rate file must satisfy; returns (PSNR of the touched frame, Pixel Data size ratio)."""
    count, rows, cols = frames.stored.shape[:3]
    bits = frames.bits_stored
    syntax = str(original.file_meta.TransferSyntaxUID)
    assert (encoded.syntax, encoded.method) == (syntax, "same_rate")
    assert str(ds.PhotometricInterpretation) == str(original.PhotometricInterpretation)
    before, after = _fragments(original), _fragments(ds)
    for index in range(count):
        if index != touched:
            assert after[index] == before[index], f"untouched frame {index} was re-encoded"

    back, arr = _written_back(ds, tmp_path / "out.dcm", frames, encoded, touched)
    assert str(back.file_meta.TransferSyntaxUID) == syntax
    inside = np.zeros((rows, cols), bool)
    inside[box[1]:box[3], box[0]:box[2]] = True
    dark = np.abs(arr[touched][inside] - np.asarray(fill)).max()
    assert dark <= encoded.tolerance == int(DARK_SHARE * (2**bits - 1))
    psnr = _psnr_db(arr[touched], redacted[touched], bits)
    assert psnr >= MIN_PSNR_DB and encoded.psnr_db == pytest.approx(psnr)
    return psnr, len(ds.PixelData) / len(original.PixelData)


@pytest.mark.parametrize(("name", "ratio", "photometric"), LOSSY_CASES)
def test_lossy_jpeg_2000_keeps_its_syntax_and_its_rate(name, ratio, photometric, tmp_path):
    original = _lossy_j2k(name, ratio, photometric)
    ds, frames, redacted, box, touched, fill, encoded = _encode_one_box(original)

    psnr, size = _check_lossy(original, ds, frames, redacted, box, touched, fill, encoded, tmp_path)

    assert abs(size - 1) <= 0.05, f"Pixel Data is {size:.3f}x the input's"
    print(f"{name} ratio={ratio} {photometric}: PSNR {psnr:.2f} dB, size x{size:.3f}")


def test_lossy_jpeg_2000_frame_missing_the_bounds_is_tried_at_a_higher_rate(tmp_path):
    """At its input's ratio (20) this frame rings past the bound at the box edge; 0.8x of it passes."""
    original = _lossy_j2k("SC_rgb_rle_2frame.dcm", 20, "YBR_ICT")
    ds, frames, redacted, box, touched, fill, encoded = _encode_one_box(original)

    psnr, size = _check_lossy(original, ds, frames, redacted, box, touched, fill, encoded, tmp_path)

    grown = len(_fragments(ds)[touched]) / len(_fragments(original)[touched])
    assert 1.05 < grown <= 1 / 0.64 * 1.05
    print(f"PSNR {psnr:.2f} dB, fragment x{grown:.3f}, Pixel Data x{size:.3f}")


def test_lossy_jpeg_2000_that_misses_the_bounds_is_written_exactly_as_explicit_le(monkeypatch):
    monkeypatch.setattr(encode_module, "MIN_PSNR_DB", 1000.0)
    original = _lossy_j2k("US1_J2KI.dcm")
    ds, frames, redacted, *_, encoded = _encode_one_box(original)

    assert (encoded.syntax, encoded.method) == (ExplicitVRLittleEndian, "explicit_le")
    assert np.array_equal(encoded.after, redacted)


def test_encapsulated_uncompressed_fragments_that_do_not_hold_the_frames_are_refused():
    """A fragment shorter or longer than one native frame is not guessed at: the file fails to decode."""
    from pydicom.encaps import encapsulate

    from scrubber.errors import DecodeFailed, InconsistentImage

    ds = encapsulated_uncompressed("emri_small.dcm")
    fragments = _fragments(ds)
    assert len(fragments[0]) == 64 * 64 * 2
    for broken in ([fragments[0][:-2], *fragments[1:]], [fragments[0] + b"\0\0", *fragments[1:]]):
        ds.PixelData = encapsulate(broken, has_bot=True)
        with pytest.raises(DecodeFailed):
            decode(ds, 1 << 30)
    ds.PixelData = encapsulate(fragments[:-1], has_bot=True)
    with pytest.raises(InconsistentImage, match="holds 9 frames, the header gives 10"):
        decode(ds, 1 << 30)


def test_jpeg_2000_coding_the_encoder_cannot_keep_is_reported():
    """pydicom's OpenJPEG encoder always writes 5 decomposition levels: a frame re-encoded in a file
    coded with 2 says so in ``changes`` (the audit's ``encode_changes``), and still decodes exactly."""
    import imagecodecs
    from pydicom.encaps import encapsulate

    original = _read("SC_rgb_rle_2frame.dcm")
    arr = original.pixel_array
    original.PixelData = encapsulate([imagecodecs.jpeg2k_encode(frame, level=0, codecformat="J2K", reversible=True,
                                                                resolutions=3, mct=True) for frame in arr], has_bot=True)
    original["PixelData"].VR, original["PixelData"].is_undefined_length = "OB", True
    original.file_meta.TransferSyntaxUID = JPEG2000Lossless
    original.PhotometricInterpretation, original.PlanarConfiguration = "YBR_RCT", 0
    ds, frames, redacted, *_, encoded = _encode_one_box(original)

    assert (encoded.syntax, encoded.method) == (JPEG2000Lossless, "same")
    assert np.array_equal(encoded.after, redacted)
    assert encoded.changes == ("decomposition levels 2 -> 5",)


def test_lossy_jpeg_2000_keeps_its_quality_layers_and_precision():
    """693_J2KI codes signed 14-bit samples at 16-bit precision in 3 quality layers: the re-encoded
    frame keeps both, so nothing is reported as changed."""
    from scrubber.pixels.j2k_codestream import coding_style

    original = _lossy_j2k("693_J2KI.dcm")
    ds, frames, redacted, box, touched, fill, encoded = _encode_one_box(original)
    before, after = coding_style(_fragments(original)[touched]), coding_style(_fragments(ds)[touched])
    assert (before.layers, before.precision) == (3, 16)
    assert (after.layers, after.precision) == (3, 16) and encoded.changes == ()
