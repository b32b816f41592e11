"""Our sequential Huffman JPEG coefficient codec (the 12-bit DCT path): what it reads and writes back
must decode exactly as the input, restart intervals and tables included, and what it cannot read
is refused."""
from __future__ import annotations

import io

import libjpeg
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames

from scrubber.pixels import jpeg_entropy
from scrubber.pixels.jpeg_dct import huffman_tables

from .util import data_path


def _fragment(name: str) -> bytes:
    ds = pydicom.dcmread(data_path(name))
    return next(generate_frames(ds.PixelData, number_of_frames=int(getattr(ds, "NumberOfFrames", 1) or 1)))


def _pillow(arr: np.ndarray, **options) -> bytes:
    out = io.BytesIO()
    Image.fromarray(arr).save(out, "JPEG", **options)
    return out.getvalue()


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm",
                                  "SC_rgb_dcmtk_+eb+cy+s2.dcm", "examples_ybr_color.dcm"])
def test_coefficients_written_back_unchanged_decode_exactly_as_the_input(name):
    fragment = _fragment(name)
    coded = jpeg_entropy.read(fragment)
    out = jpeg_entropy.write(coded)
    np.testing.assert_array_equal(libjpeg.decode(out, 0), libjpeg.decode(fragment, 0))
    assert huffman_tables(out) == huffman_tables(fragment)
    assert abs(len(out) - len(fragment)) <= 2


def test_restart_intervals_are_read_and_kept():
    arr = pydicom.dcmread(data_path("US1_UNCR.dcm")).pixel_array
    data = _pillow(arr, quality=90, restart_marker_blocks=5)
    coded = jpeg_entropy.read(data)
    assert coded.restart == 5
    out = jpeg_entropy.write(coded)
    assert out.count(b"\xff\xd3") == data.count(b"\xff\xd3") > 0
    np.testing.assert_array_equal(libjpeg.decode(out, 0), libjpeg.decode(data, 0))


def test_tables_that_cannot_code_the_new_blocks_are_rebuilt():
    """A flat image with optimised tables has no code for a large DC difference: the writer builds
    tables for the frame, and only the changed block decodes differently."""
    data = _pillow(np.full((64, 64), 120, np.uint8), quality=90, optimize=True)
    coded = jpeg_entropy.read(data)
    coded.blocks[0][3, 4, 0] -= 40
    coded.blocks[0][3, 4, 5] = 7
    out = jpeg_entropy.write(coded)
    assert huffman_tables(out) != huffman_tables(data)
    before, after = libjpeg.decode(data, 0).astype(int), libjpeg.decode(out, 0).astype(int)
    changed = before != after
    assert changed[24:32, 32:40].any() and not np.delete(np.delete(changed, range(24, 32), 0), range(32, 40), 1).any()
    np.testing.assert_array_equal(jpeg_entropy.read(out).blocks[0], coded.blocks[0])


def test_what_the_codec_cannot_read_is_refused():
    arr = pydicom.dcmread(data_path("US1_UNCR.dcm")).pixel_array
    with pytest.raises(ValueError, match="not supported"):
        jpeg_entropy.read(_pillow(arr, progressive=True))
    good = _fragment("SC_rgb_jpeg_dcmtk.dcm")
    for broken in (good[2:], good[: len(good) // 2], good[:-40] + b"\xff\xd9"):
        with pytest.raises(ValueError):
            jpeg_entropy.read(broken)


def test_block_bits_add_up_to_the_entropy_coded_data():
    """The bits counted per block are those of the scan: their sum fills the entropy-coded bytes
    (after unstuffing) up to the final padding, and a flat block costs less than a busy one."""
    fragment = _fragment("SC_rgb_dcmtk_+eb+cy+s2.dcm")
    coded = jpeg_entropy.read(fragment)
    bits = jpeg_entropy.block_bits(coded)
    start = fragment.index(b"\xff\xda")
    start += 2 + int.from_bytes(fragment[start + 2:start + 4], "big")
    scan = fragment[start:fragment.rindex(b"\xff\xd9")].replace(b"\xff\x00", b"\xff")
    assert 8 * len(scan) - 8 < sum(int(b.sum()) for b in bits) <= 8 * len(scan)
    coded.blocks[0][0, 0, 1:] = 0
    assert jpeg_entropy.block_bits(coded)[0][0, 0] <= bits[0][0, 0]


def test_damaged_streams_are_refused_with_value_error_only():
    """Bytes overwritten or cut anywhere: the reader either reads the frame or raises ValueError,
    which the encoder turns into its fallback, never another exception."""
    import random

    good = _fragment("SC_rgb_jpeg_dcmtk.dcm")
    rng = random.Random(7)
    for _ in range(80):
        damaged = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(2, len(damaged))] = rng.randrange(256)
        if rng.random() < 0.3:
            damaged = damaged[:rng.randrange(10, len(damaged))]
        try:
            jpeg_entropy.read(bytes(damaged))
        except ValueError:
            pass
