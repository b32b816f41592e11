"""HTJ2K written back in its own syntax: frames under a box are coded by OpenJPH like the frame they
replace, every other frame keeps its fragment bytes, and what cannot be coded alike is refused.

No test file comes in HTJ2K, so real test files are written as HTJ2K first (tests/util.htj2k).
pydicom decodes the result with OpenJPEG, an implementation independent of the encoder.
"""
from __future__ import annotations

import dataclasses

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames
from pydicom.uid import HTJ2K, ExplicitVRLittleEndian, HTJ2KLossless, HTJ2KLosslessRPCL, JPEG2000Lossless

from scrubber.errors import EncodeFailed
from scrubber.pixels import htj2k as htj2k_codec
from scrubber.pixels.j2k_codestream import coding_style

from .test_codecs import _check_lossy, _encode_one_box, _fragments
from .util import data_path, htj2k


def _styles(ds: pydicom.Dataset) -> list:
    return [coding_style(fragment) for fragment in _fragments(ds)]


def test_coding_style_reads_what_the_encoder_was_asked_for():
    arr = pydicom.dcmread(data_path("US1_UNCR.dcm")).pixel_array
    plain = coding_style(imagecodecs.htj2k_encode(arr, reversible=True, rgb=True))
    assert (plain.width, plain.height, plain.components, plain.precision, plain.signed) == (640, 480, 3, 8, False)
    assert (plain.order, plain.mct, plain.reversible, plain.high_throughput) == ("RPCL", True, True, True)
    assert (plain.tlm, plain.tile_parts, plain.tiled) == (False, 1, False)
    tiled = coding_style(imagecodecs.htj2k_encode(arr[..., 0], 0.02, reversible=False, resolutions=3,
                                                  tile=(256, 128), tlm=True, tilepart=1))
    assert (tiled.components, tiled.mct, tiled.reversible, tiled.levels) == (1, False, False, 3)
    assert (tiled.tile, tiled.tlm, tiled.tile_parts) == ((256, 128), True, 4)
    part1 = coding_style(next(generate_frames(pydicom.dcmread(data_path("US1_J2KI.dcm")).PixelData,
                                              number_of_frames=1)))
    assert (part1.order, part1.reversible, part1.high_throughput) == ("LRCP", False, False)


@pytest.mark.parametrize("data", [b"", b"not a codestream", b"\xff\x4f\xff\x51\x00\x05abc", b"\xff\x4f"])
def test_a_codestream_without_a_readable_main_header_is_refused(data):
    with pytest.raises(ValueError):
        coding_style(data)
    with pytest.raises(EncodeFailed):
        htj2k_codec.encode_like(np.zeros((8, 8), np.uint8), data)


def test_rpcl_frames_keep_order_levels_tiles_tlm_and_tile_parts():
    original = htj2k("US1_UNCR.dcm", HTJ2KLosslessRPCL, "YBR_RCT", reversible=True, rgb=True,
                     resolutions=4, tile=(256, 256), tlm=True, tilepart=1)
    ds, frames, redacted, *_, encoded = _encode_one_box(original)

    assert (encoded.syntax, encoded.method) == (HTJ2KLosslessRPCL, "same")
    assert np.array_equal(encoded.after, redacted)
    assert _fragments(ds) != _fragments(original)
    assert _styles(ds) == _styles(original)
    assert _styles(ds)[0].order == "RPCL" and _styles(ds)[0].tlm
    assert str(ds.PhotometricInterpretation) == "YBR_RCT"


def test_reversible_frames_in_the_lossy_syntax_come_back_exact():
    original = htj2k("US1_UNCR.dcm", HTJ2K, "RGB", reversible=True, rgb=False)
    ds, frames, redacted, *_, encoded = _encode_one_box(original)

    assert (encoded.syntax, encoded.method, encoded.tolerance) == (HTJ2K, "same", 0)
    assert np.array_equal(encoded.after, redacted)
    assert _styles(ds) == _styles(original)


LOSSY = [
    ("US1_UNCR.dcm", "YBR_ICT", 0.01),  # RGB through the ICT
    ("US1_UNCR.dcm", "RGB", 0.004),  # RGB, no colour transform
    ("emri_small.dcm", None, 0.002),  # MR, 10 frames, 12 bits in 16-bit samples
]


@pytest.mark.parametrize(("name", "photometric", "step"), LOSSY)
def test_lossy_htj2k_keeps_its_syntax_and_its_size(name, photometric, step, tmp_path):
    original = htj2k(name, HTJ2K, photometric, level=step, reversible=False, rgb=photometric == "YBR_ICT")
    ds, frames, redacted, box, touched, fill, encoded = _encode_one_box(original)

    psnr, size = _check_lossy(original, ds, frames, redacted, box, touched, fill, encoded, tmp_path)

    assert abs(size - 1) <= 0.05, f"Pixel Data is {size:.3f}x the input's"
    before, after = _styles(original)[touched], _styles(ds)[touched]
    assert dataclasses.replace(after, layers=before.layers) == before
    print(f"{name} {photometric} step {step}: PSNR {psnr:.2f} dB, size x{size:.3f}")


def test_a_precision_openjph_cannot_write_falls_back_to_explicit_le():
    """OpenJPH codes samples 8 or 16 bits wide: a 12-bit codestream is not rewritten as 16-bit."""
    original = pydicom.dcmread(data_path("emri_small.dcm"))
    original.compress(JPEG2000Lossless, original.pixel_array, generate_instance_uid=False)
    original.file_meta.TransferSyntaxUID = HTJ2KLossless  # a Part 1 codestream, 12-bit
    assert _styles(original)[0].precision == 12
    ds, frames, redacted, *_, encoded = _encode_one_box(original)

    assert (encoded.syntax, encoded.method) == (ExplicitVRLittleEndian, "explicit_le")
    assert np.array_equal(encoded.after, redacted)


def test_lossy_frames_of_a_clip_search_their_step_near_the_previous_one(monkeypatch):
    """Every frame of a 10-frame lossy clip has a box: after the first, each frame's quantisation
    step is looked for near the previous one, in far fewer encodes, and every frame meets the bounds."""
    import copy

    from scrubber.pixels.decode import decode
    from scrubber.pixels.encode import RATE_STEPS, encode
    from scrubber.pixels.fill import fill_value
    from scrubber.pixels.redact import redact

    calls = []
    encode_frame = imagecodecs.htj2k_encode
    monkeypatch.setattr(htj2k_codec.imagecodecs, "htj2k_encode", lambda *a, **k: calls.append(1) or encode_frame(*a, **k))
    original = htj2k("emri_small.dcm", HTJ2K, level=0.002, reversible=False)
    frames = decode(original, 1 << 30)
    boxes = [[(10, 10, 30, 20)] for _ in range(frames.count)]
    redacted = redact(frames.stored, boxes, fill_value(frames, original))
    ds = copy.deepcopy(original)

    encoded = encode(ds, frames, redacted, boxes)

    assert (encoded.syntax, encoded.method) == (HTJ2K, "same_rate") and encoded.psnr_db >= 40
    assert len(calls) <= htj2k_codec.STEP_TRIES + (frames.count - 1) * 2 * htj2k_codec.WARM_TRIES
    assert len(calls) < frames.count * htj2k_codec.STEP_TRIES
    sizes = [len(after) / len(before) for before, after in zip(_fragments(original), _fragments(ds))]
    assert max(sizes) <= 1 / RATE_STEPS[-1]  # the input's rate, or the higher rates a miss is tried at
