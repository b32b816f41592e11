"""Our JPEG lossless (process 14, SV1) encoder: what it writes decodes exactly, with libjpeg and with
dcmtk, at every precision and component count DICOM uses."""
from __future__ import annotations

import copy
import shutil
import subprocess

import libjpeg
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

from scrubber.pixels.jpeg_lossless import encode_frame, sof3_precision

from .util import data_path


@pytest.mark.parametrize(("shape", "precision"), [
    ((64, 80), 8), ((64, 80, 3), 8), ((50, 33), 12), ((40, 41), 16), ((7, 5), 2), ((1, 1), 8), ((9, 300, 3), 16),
])
def test_random_frames_decode_exactly(shape, precision):
    rng = np.random.default_rng(precision)
    frame = rng.integers(0, 1 << precision, size=shape)
    assert np.array_equal(libjpeg.decode(encode_frame(frame, precision)).reshape(shape), frame)


def test_extreme_differences_decode_exactly():
    for frame in (np.array([[0, 32768, 0, 65535, 0], [65535, 0, 32768, 1, 2]]), np.full((3, 3), 65535)):
        assert np.array_equal(libjpeg.decode(encode_frame(frame, 16)), frame)


def test_refuses_what_it_cannot_write():
    with pytest.raises(ValueError):
        encode_frame(np.full((4, 4), 256), 8)
    with pytest.raises(ValueError):
        encode_frame(np.zeros((4, 4)), 17)
    with pytest.raises(ValueError):
        sof3_precision(b"\xff\xd8\xff\xc0\x00\x02")


@pytest.mark.skipif(shutil.which("dcmdjpeg") is None, reason="dcmtk (dcmdjpeg) is not installed")
def test_real_file_rewritten_with_our_encoder_decodes_in_dcmtk(tmp_path):
    original = pydicom.dcmread(data_path("JPGLosslessP14SV1_1s_1f_8b.dcm"))
    fragment = next(generate_frames(original.PixelData, number_of_frames=1))
    precision = sof3_precision(fragment)
    pixels = original.pixel_array
    ds = copy.deepcopy(original)
    ds.PixelData = encapsulate([encode_frame(pixels, precision)])
    src, out = tmp_path / "ours.dcm", tmp_path / "decoded.dcm"
    ds.save_as(src, enforce_file_format=True)
    done = subprocess.run(["dcmdjpeg", str(src), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(pydicom.dcmread(out).pixel_array, pixels)
