"""DCT-domain redaction of 8-bit lossy JPEG frames: outside the redacted MCUs nothing may change."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames

import libjpeg

from scrubber.pixels.jpeg_dct import CHROMA_TOLERANCE, DARK_MAX, HALO, check_redacted, huffman_tables, redact_frame

from .util import dilate

CASES = [
    # file, frame index, MCU (rows, cols)
    ("color3d_jpeg_baseline.dcm", 0, (8, 16)),  # 640x480, 4:2:2, 120 frames
    ("color3d_jpeg_baseline.dcm", 60, (8, 16)),
    ("examples_ybr_color.dcm", 0, (16, 16)),  # 320x240, labelled 422 but coded 4:2:0
    ("examples_ybr_color.dcm", 15, (16, 16)),
    ("SC_rgb_jpeg_dcmtk.dcm", 0, (8, 8)),  # YCbCr 4:4:4
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", 0, (16, 16)),  # 4:2:0
    ("SC_rgb_dcmtk_+eb+cy+s2.dcm", 0, (8, 16)),  # 4:2:2
    ("SC_rgb_dcmtk_+eb+cy+s4.dcm", 0, (8, 8)),  # 4:4:4
    ("SC_rgb_dcmtk_+eb+cr.dcm", 0, (8, 8)),  # RGB coded, Adobe transform 0
    ("SC_jpeg_no_color_transform.dcm", 0, (8, 8)),  # RGB coded, no markers
    ("JPGExtended.dcm", 0, (8, 8)),  # 12-bit extended (SOF1), 1024x256 monochrome: our own codec
]


def _frame(name: str, index: int) -> tuple[bytes, pydicom.Dataset]:
    ds = pydicom.dcmread(get_testdata_file(name))
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    for i, fragment in enumerate(generate_frames(ds.PixelData, number_of_frames=frames)):
        if i == index:
            return fragment, ds
    raise IndexError(index)


def _mask(rows: int, cols: int) -> np.ndarray:
    """One rectangle on the 16-pixel grid and one that is not aligned to any block grid."""
    mask = np.zeros((rows, cols), dtype=bool)
    mask[16:32, 16:48] = True
    mask[rows // 2 + 3 : rows // 2 + 14, cols // 2 + 5 : cols // 2 + 27] = True
    return mask


def _decode(data: bytes) -> np.ndarray:
    out = libjpeg.decode(data, 0)
    return out if out.ndim == 3 else out[..., None]


@pytest.mark.parametrize("name, index, mcu", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_redact_frame_changes_only_the_grown_mask(name: str, index: int, mcu: tuple[int, int]) -> None:
    fragment, ds = _frame(name, index)
    rows, cols = int(ds.Rows), int(ds.Columns)
    mask = _mask(rows, cols)
    rgb = ds.PhotometricInterpretation == "RGB"

    out, grown = redact_frame(fragment, mask, rgb=rgb)

    assert grown.shape == mask.shape and grown.dtype == bool
    assert not (mask & ~grown).any()
    mh, mw = mcu
    gh, gw = -(-rows // mh), -(-cols // mw)
    padded = np.zeros((gh * mh, gw * mw), dtype=bool)
    padded[:rows, :cols] = grown
    tiles = padded.reshape(gh, mh, gw, mw)
    assert (tiles.all(axis=(1, 3)) == tiles.any(axis=(1, 3))).all(), "grown mask not MCU-aligned"

    before, after = _decode(fragment), _decode(out)
    assert before.shape == after.shape == (rows, cols, int(ds.SamplesPerPixel))
    outside = ~dilate(grown, HALO)
    np.testing.assert_array_equal(before[outside], after[outside])
    assert not np.array_equal(before[grown], after[grown])
    if not rgb:  # luma (or grey) goes black by 8x8 block, even where the chroma goes neutral by MCU
        luma_outside = ~_blocks_touching(mask, 8, 8)
        np.testing.assert_array_equal(before[..., 0][luma_outside], after[..., 0][luma_outside])

    inside = after[mask].astype(int)
    if rgb or inside.shape[1] == 1:
        assert inside.max() <= DARK_MAX
    else:
        assert inside[:, 0].max() <= DARK_MAX
        assert np.abs(inside[:, 1:] - 128).max() <= CHROMA_TOLERANCE

    assert len(out) <= len(fragment) * 1.02


def _blocks_touching(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixels of the ``h`` x ``w`` blocks that hold a masked pixel."""
    out = np.zeros_like(mask)
    for y in range(0, mask.shape[0], h):
        for x in range(0, mask.shape[1], w):
            out[y : y + h, x : x + w] = mask[y : y + h, x : x + w].any()
    return out


def test_blocks_outside_the_mask_keep_their_coefficients(tmp_path) -> None:
    """Bit-exact in the coefficient domain, not just after decoding: exactly the luma blocks that
    touch the mask and the chroma blocks that touch it (grown by the upsampling halo) are flat."""
    import jpeglib

    fragment, ds = _frame("SC_rgb_dcmtk_+eb+cy+s2.dcm", 0)
    mask = _mask(int(ds.Rows), int(ds.Columns))
    out, grown = redact_frame(fragment, mask)
    (tmp_path / "a.jpg").write_bytes(fragment)
    (tmp_path / "b.jpg").write_bytes(out)
    a, b = jpeglib.read_dct(str(tmp_path / "a.jpg")), jpeglib.read_dct(str(tmp_path / "b.jpg"))
    np.testing.assert_array_equal(a.qt, b.qt)
    chroma_reach = dilate(mask, HALO)
    for plane_a, plane_b, (h, w), reach in ((a.Y, b.Y, (8, 8), mask), (a.Cb, b.Cb, (8, 16), chroma_reach),
                                            (a.Cr, b.Cr, (8, 16), chroma_reach)):
        # luma blocks are 8x8 pixels; a 4:2:2 chroma block covers 8 rows x 16 columns
        touched = np.zeros(plane_a.shape[:2], dtype=bool)
        for by in range(plane_a.shape[0]):
            for bx in range(plane_a.shape[1]):
                touched[by, bx] = reach[by * h : (by + 1) * h, bx * w : (bx + 1) * w].any()
        np.testing.assert_array_equal(plane_a[~touched], plane_b[~touched])
        assert (plane_b[touched].reshape(-1, 64)[:, 1:] == 0).all()
        assert grown[_blocks_touching(reach, h, w)].all()
    assert not (grown & ~_blocks_touching(chroma_reach, 8, 16)).any()


def test_markers_and_component_ids_are_kept() -> None:
    fragment, ds = _frame("SC_rgb_dcmtk_+eb+cr.dcm", 0)
    out, _ = redact_frame(fragment, _mask(int(ds.Rows), int(ds.Columns)))
    assert out.count(b"Adobe") == fragment.count(b"Adobe") == 1
    sof = out.index(b"\xff\xc0")
    assert out[sof + 10 : sof + 19 : 3] == b"RGB"


def test_empty_mask_changes_no_pixel() -> None:
    fragment, ds = _frame("examples_ybr_color.dcm", 0)
    mask = np.zeros((int(ds.Rows), int(ds.Columns)), dtype=bool)
    out, grown = redact_frame(fragment, mask)
    assert not grown.any()
    np.testing.assert_array_equal(_decode(fragment), _decode(out))


def test_twelve_bit_colour_keeps_every_block_outside_the_grown_mask(tmp_path) -> None:
    """A 12-bit YBR 4:2:2 JPEG (dcmtk's extended process 4 on US1's RGB image) through our own
    coefficient codec: outside the grown MCUs (plus the chroma halo) nothing changes."""
    import shutil
    import subprocess

    if shutil.which("dcmcjpeg") is None:
        pytest.skip("dcmtk's dcmcjpeg is not installed")
    src = get_testdata_file("US1_UNCR.dcm")
    subprocess.run(["dcmcjpeg", "+ee", "+bt", src, str(tmp_path / "us12.dcm")], check=True, capture_output=True)
    ds = pydicom.dcmread(tmp_path / "us12.dcm")
    fragment = next(generate_frames(ds.PixelData, number_of_frames=1))
    assert fragment[fragment.index(b"\xff\xc1") + 4] == 12
    mask = _mask(int(ds.Rows), int(ds.Columns))

    out, grown = redact_frame(fragment, mask)

    before, after = _decode(fragment), _decode(out)
    np.testing.assert_array_equal(before[~dilate(grown, HALO)], after[~dilate(grown, HALO)])
    inside = after[mask].astype(int)
    assert inside[:, 0].max() <= DARK_MAX and np.abs(inside[:, 1:] - 2048).max() <= CHROMA_TOLERANCE
    assert huffman_tables(out) == huffman_tables(fragment)


def test_unsupported_input_raises_value_error() -> None:
    fragment, ds = _frame("JPEG-lossy.dcm", 0)  # 12-bit SOF1 with a scan header libjpeg refuses
    mask = _mask(int(ds.Rows), int(ds.Columns))
    with pytest.raises(ValueError, match="does not decode"):
        redact_frame(fragment, mask)
    good, ds = _frame("SC_rgb_jpeg_dcmtk.dcm", 0)
    with pytest.raises(ValueError):
        redact_frame(good, np.zeros((10, 10), dtype=bool))
    with pytest.raises(ValueError):
        redact_frame(good, _mask(100, 100), black=False)
    with pytest.raises(ValueError):
        redact_frame(good[2:], _mask(100, 100))
    with pytest.raises(ValueError):
        redact_frame(good[: len(good) // 2], _mask(100, 100))


def test_standard_huffman_tables_are_kept_and_untouched_blocks_cost_what_they_did():
    """color3d codes with ITU T.81 Annex K's tables: the output keeps them (not re-optimised),
    so a frame with one small box keeps its size within 1 %."""
    fragment, _ = _frame("color3d_jpeg_baseline.dcm", 0)
    mask = np.zeros((480, 640), bool)
    mask[200:210, 300:310] = True
    out, grown = redact_frame(fragment, mask)
    assert huffman_tables(out) == huffman_tables(fragment) and len(huffman_tables(out)) == 4
    assert grown.sum() < 0.01 * grown.size
    assert abs(len(out) - len(fragment)) <= 0.01 * len(fragment), (len(out), len(fragment))


@pytest.mark.parametrize("fault", ["outside", "chroma"])
def test_encode_checks_every_rewritten_frame_of_the_file(monkeypatch, fault) -> None:
    """``encode`` skips redact_frame's own decode and checks the decoded file instead: a rewrite that
    changed blocks outside the grown mask, or left colour in a box, must not be delivered as JPEG."""
    import copy

    from scrubber.pixels import encode as encode_module
    from scrubber.pixels.decode import decode

    def faulty(fragment, mask, **kwargs):
        if fault == "outside":  # blanks more than it reports
            out, grown = redact_frame(fragment, dilate(mask, 24), **kwargs)
            return out, redact_frame(fragment, mask, **kwargs)[1]
        return redact_frame(fragment, mask, rgb=True, verify=False)  # YBR blanked as if RGB: Cb, Cr = 0

    monkeypatch.setattr(encode_module, "redact_frame", faulty)
    ds = pydicom.dcmread(get_testdata_file("color3d_jpeg_baseline.dcm"))
    frames = decode(ds, 1 << 30)
    boxes = [[(100, 100, 140, 120)] if index == 7 else [] for index in range(frames.count)]
    encoded = encode_module.encode(copy.deepcopy(ds), frames, frames.stored, boxes, jpeg_dct=True)
    assert encoded.method == "explicit_le"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_check_redacted_tells_each_fault(dtype) -> None:
    """One level in one sample is enough: outside the grown mask (its last channel), in a box's luma
    or R, G, B, or in a box's chroma beyond the tolerance."""
    precision = 8 if dtype == np.uint8 else 12
    middle = 1 << (precision - 1)
    old = np.full((48, 64, 3), 90, dtype)
    mask = np.zeros((48, 64), bool)
    mask[10:20, 10:30] = True
    grown = np.zeros_like(mask)
    grown[8:24, 8:32] = True
    new = old.copy()
    new[grown] = (0, middle, middle)
    check_redacted(old, new, mask, grown, rgb=False, precision=precision)
    edge = new.copy()
    edge[24 + HALO - 1, 20] = 7  # within HALO of the grown mask: allowed to change
    check_redacted(old, edge, mask, grown, rgb=False, precision=precision)
    faults = {"outside": (30, 40, 2, 91), "luma": (12, 12, 0, DARK_MAX + 1),
              "chroma": (12, 12, 1, middle + CHROMA_TOLERANCE + 1)}
    for name, (row, col, channel, value) in faults.items():
        bad = new.copy()
        bad[row, col, channel] = value
        with pytest.raises(ValueError):
            check_redacted(old, bad, mask, grown, rgb=False, precision=precision)
    rgb = old.copy()
    rgb[grown] = 0
    check_redacted(old, rgb, mask, grown, rgb=True, precision=precision)
    rgb[15, 15, 2] = DARK_MAX + 1
    with pytest.raises(ValueError, match="not black"):
        check_redacted(old, rgb, mask, grown, rgb=True, precision=precision)


def test_the_codec_s_files_go_to_memory_and_are_removed(monkeypatch, tmp_path) -> None:
    """jpeglib reads and writes files: the input's codestream (its burned-in text) and the
    rewritten one. They go to a private folder in MEMORY (RAM-backed) where it has room, and
    nothing is left there after; where it has no room, or there is none, to the system's
    temporary folder."""
    import tempfile

    from scrubber.pixels import jpeg_dct, scratch

    memory = tmp_path / "shm"
    memory.mkdir()
    monkeypatch.setattr(scratch, "MEMORY", str(memory))
    folders, real = [], tempfile.TemporaryDirectory
    monkeypatch.setattr(jpeg_dct.tempfile, "TemporaryDirectory", lambda dir=None: folders.append(dir) or real(dir=dir))
    fragment, ds = _frame("color3d_jpeg_baseline.dcm", 0)
    mask = _mask(int(ds.Rows), int(ds.Columns))
    out, grown = redact_frame(fragment, mask)
    assert grown.any() and out != fragment
    assert folders == [str(memory)] and list(memory.iterdir()) == []
    monkeypatch.setattr(scratch, "MEMORY_FREE", 1 << 62)
    assert redact_frame(fragment, mask)[0] == out and folders[-1] is None
    monkeypatch.setattr(scratch, "MEMORY", str(tmp_path / "none"))
    assert redact_frame(fragment, mask)[0] == out and folders[-1] is None
