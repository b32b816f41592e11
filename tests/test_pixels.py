"""Codec round trips on real files: redaction changes only the box, syntaxes stay as the table says."""
from __future__ import annotations

import copy
import io

import numpy as np
import pydicom
import pytest
from pydicom.pixels import get_decoder
from pydicom.pixels.processing import convert_color_space

from scrubber.errors import UnsupportedImage
from scrubber.pixels import render
from scrubber.pixels.decode import as_array, decode
from scrubber.pixels.encode import encode
from scrubber.pixels.fill import fill_value
from scrubber.pixels.redact import redact
from scrubber.pixels.syntax import rule_for

from .util import data_path

KEPT = "kept"
NATIVE = "1.2.840.10008.1.2.1"
CASES = {
    # file: expected output syntax (KEPT = same as input)
    "US1_UNCR.dcm": KEPT,                     # RGB, explicit LE
    "US1_J2KR.dcm": KEPT,                     # YBR_RCT, JPEG 2000 lossless
    "US1_J2KI.dcm": KEPT,                     # YBR_ICT, lossy JPEG 2000: same rate, boxes near the fill
    "OBXXXX1A_rle.dcm": KEPT,                 # 8-bit palette, RLE
    "OBXXXX1A_expb_2frame.dcm": KEPT,         # palette, big endian, 2 frames
    "gdcm-US-ALOKA-16.dcm": KEPT,             # 16-bit palette, implicit LE
    "examples_ybr_color.dcm": KEPT,           # YBR_FULL_422 JPEG baseline, 30 frames: DCT domain
    "SC_rgb_jpeg_dcmtk.dcm": KEPT,            # YBR_FULL JPEG baseline 4:4:4: DCT domain
    "SC_rgb_dcmtk_+eb+cr.dcm": KEPT,          # RGB-coded JPEG baseline: DCT domain
    "JPGExtended.dcm": KEPT,                  # 12-bit JPEG extended: DCT path through our own codec
    "SC_ybr_full_422_uncompressed.dcm": KEPT,  # native YBR_FULL_422 -> YBR_FULL, colour-by-plane
    "emri_small_jpeg_ls_lossless.dcm": KEPT,  # JPEG-LS lossless, 10 frames
    "MR_small_jp2klossless.dcm": KEPT,        # signed 16-bit, JPEG 2000 lossless
    "JPEG-LL.dcm": KEPT,                      # JPEG lossless process 14: our encoder (SV1)
    "JPEGLSNearLossless_08.dcm": KEPT,        # JPEG-LS near-lossless: new frame within NEAR
    "SC_rgb_rle_16bit_2frame.dcm": KEPT,      # 16-bit RGB RLE
    "SC_rgb_32bit.dcm": KEPT,                 # 32-bit RGB native
    "SC_rgb_rle_32bit_2frame.dcm": NATIVE,    # pydicom's RLE encoder refuses 32-bit: explicit LE
    "image_dfl.dcm": KEPT,                    # deflated
    "MR_small_bigendian.dcm": KEPT,           # signed big endian
    "SC_rgb_expb_32bit_2frame.dcm": KEPT,     # 32-bit RGB big endian
    "liver_1frame.dcm": KEPT,                 # 1-bit segmentation
    "RG1_J2KR.dcm": KEPT,                     # MONOCHROME1, large
}


def _round_trip(ds: pydicom.Dataset) -> pydicom.Dataset:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


@pytest.mark.parametrize("name", sorted(CASES))
def test_redaction_changes_only_the_box_and_keeps_the_syntax(name):
    original = pydicom.dcmread(data_path(name))
    frames = decode(original, 1 << 30)
    rows, cols = frames.stored.shape[1:3]
    box = (cols // 4, rows // 4, cols // 4 + max(2, cols // 5), rows // 4 + max(2, rows // 6))
    fill = fill_value(frames, original)
    boxes = [[box]] * frames.count
    made = []  # the pixel-domain copy is made only for codecs that need it (the DCT domain does not)
    ds = copy.deepcopy(original)
    encoded = encode(ds, frames, lambda: made.append(1) or redact(frames.stored, boxes, fill), boxes, jpeg_dct=True)
    assert len(made) == (0 if encoded.method == "jpeg_dct" else 1)
    written = encoded.syntax
    source = str(original.file_meta.TransferSyntaxUID)
    assert written == (source if CASES[name] == KEPT else CASES[name])
    assert written in (rule_for(source).write_uid, NATIVE)

    back = _round_trip(ds)
    arr = as_array(back)[0].reshape(frames.stored.shape)  # the pipeline's decoder (JPEG baseline: libjpeg-turbo)
    assert np.array_equal(arr, encoded.after)
    theirs, _ = get_decoder(back.file_meta.TransferSyntaxUID).as_array(back, raw=True)  # pydicom's first plugin
    assert np.abs(theirs.reshape(arr.shape).astype(int) - arr).max() <= 3  # IDCT and chroma upsampling
    inside = np.zeros(arr.shape[1:3], bool)
    inside[box[1]:box[3], box[0]:box[2]] = True
    # the DCT path blanks whole MCUs (at most 16x16) and chroma upsampling reaches 1 px further
    grow = 17 if encoded.method == "jpeg_dct" else 0
    outside = np.ones(arr.shape[1:3], bool)
    outside[max(0, box[1] - grow):box[3] + grow, max(0, box[0] - grow):box[2] + grow] = False
    moved = np.abs(arr[:, outside].astype(int) - frames.stored[:, outside]).max(initial=0)
    if encoded.method == "same_rate":  # lossy J2K: the whole frame moves a little, bounded by PSNR
        assert encoded.psnr_db >= 40
    else:
        assert moved <= encoded.tolerance, "pixels outside the box changed"
    if encoded.method == "jpeg_dct":
        assert np.abs(arr[:, inside].astype(int) - np.asarray(fill)).max() <= 2
    elif encoded.method in ("same_near", "same_rate"):
        assert np.abs(arr[:, inside].astype(int) - np.asarray(fill)).max() <= encoded.tolerance
    else:
        assert (arr[:, inside] == np.asarray(fill, arr.dtype)).all()
    # the filled box renders black (lossy J2K: up to 8 % of 255 more, ringing at the box edges)
    shown = render.full(decode(back, 1 << 30), back)
    assert shown[:, inside].max() <= (8 + 20 if encoded.method == "same_rate" else 8)


def test_palette_fill_is_the_darkest_entry():
    ds = pydicom.dcmread(data_path("OBXXXX1A.dcm"))
    frames = decode(ds, 1 << 30)
    (index,) = fill_value(frames, ds)
    from pydicom.pixels import apply_color_lut

    lut = apply_color_lut(np.arange(256, dtype=np.uint8), ds).astype(float) @ [0.299, 0.587, 0.114]
    assert lut[index] == lut.min()


def test_a_big_endian_palette_renders_as_its_little_endian_copy():
    """pydicom's OBXXXX1A_expb.dcm is OBXXXX1A.dcm in Explicit VR Big Endian: the same indices and
    palette. pydicom 3.0 reads its 16-bit LUT data byte-swapped (entries 256x too small: a near
    black image); ours renders both alike, picks the same fill, and leaves the input as it was."""
    little = pydicom.dcmread(data_path("OBXXXX1A.dcm"))
    big = pydicom.dcmread(data_path("OBXXXX1A_expb.dcm"))
    lut = bytes(big.RedPaletteColorLookupTableData)
    from pydicom.pixels import apply_color_lut

    indices = big.pixel_array
    assert apply_color_lut(indices, big).max() < 256  # what pydicom alone shows
    shown = {name: render.full(decode(ds, 1 << 30), ds) for name, ds in (("little", little), ("big", big))}
    assert np.array_equal(shown["little"], shown["big"]) and shown["big"].max() > 128
    assert fill_value(decode(big, 1 << 30), big) == fill_value(decode(little, 1 << 30), little)
    assert bytes(big.RedPaletteColorLookupTableData) == lut


def test_a_palette_is_expanded_once_and_shows_what_pydicom_shows(monkeypatch):
    """gdcm-US-ALOKA-16's segmented 16-bit palette costs pydicom about 40 ms to expand: a file's
    rendering and fill, and the next file with the same palette, expand it once (the colours of
    every index, remembered), and show what ``apply_color_lut`` shows; another palette (its red
    entries changed) is expanded anew."""
    from pydicom.pixels import apply_color_lut

    from scrubber.lru import Lru
    from scrubber.pixels import palette

    expanded = []
    monkeypatch.setattr(palette, "_tables", Lru(palette.TABLES))
    monkeypatch.setattr(palette, "apply_color_lut", lambda indices, ds: expanded.append(indices.size)
                        or apply_color_lut(indices, ds))
    for name in ("gdcm-US-ALOKA-16.dcm", "OBXXXX1A.dcm"):
        for _ in range(2):
            ds = pydicom.dcmread(data_path(name))
            frames = decode(ds, 1 << 30)
            want = apply_color_lut(frames.stored[..., 0], ds)
            assert np.array_equal(palette.palette_rgb(frames.stored[..., 0], ds), want)
            render.full(frames, ds)
            fill_value(frames, ds)
    assert expanded == [65536, 256]
    ds = pydicom.dcmread(data_path("OBXXXX1A.dcm"))
    ds.RedPaletteColorLookupTableData = bytes(len(ds.RedPaletteColorLookupTableData))
    shown = palette.palette_rgb(ds.pixel_array, ds)
    assert expanded == [65536, 256, 256] and shown[..., 0].max() == 0 and shown[..., 1].max() > 0


def test_a_palette_that_shows_everything_as_one_colour_is_refused():
    """OBXXXX1A with its palette bytes swapped (what a byte-order mistake reads: every entry under
    256, black once shown in 8 bits) renders as one flat colour though its indices vary: refused
    as inconsistent, not handed to OCR as a text-free black image."""
    from scrubber.errors import InconsistentImage

    ds = pydicom.dcmread(data_path("OBXXXX1A.dcm"))
    for colour in ("Red", "Green", "Blue"):
        keyword = f"{colour}PaletteColorLookupTableData"
        setattr(ds, keyword, np.frombuffer(ds[keyword].value, "<u2").byteswap().tobytes())
    with pytest.raises(InconsistentImage, match="one flat colour"):
        render.full(decode(ds, 1 << 30), ds)


def test_monochrome1_fills_with_the_maximum():
    ds = pydicom.dcmread(data_path("RG1_UNCR.dcm"))
    frames = decode(ds, 1 << 30)
    bits = frames.bits_stored
    expected = 2 ** (bits - 1) - 1 if frames.signed else 2**bits - 1
    assert fill_value(frames, ds) == (expected,)


def test_float_pixel_data_is_refused():
    ds = pydicom.dcmread(data_path("CT_small.dcm"))
    del ds.PixelData
    ds.FloatPixelData = b"\0" * 16
    with pytest.raises(UnsupportedImage):
        decode(ds, 1 << 30)


@pytest.mark.parametrize("name, viewed", [("US1_UNCR.dcm", True), ("CT_small.dcm", True), ("emri_small.dcm", False),
                                          ("SC_ybr_full_422_uncompressed.dcm", False)])
def test_native_frames_are_a_view_of_the_pixel_data_where_nothing_is_changed_in_decoding(name, viewed, caplog):
    """A long native clip is not held twice: whole-byte little-endian frames with no unused bits
    are a read-only view of the Pixel Data; 12 bits in 16 (the bits above are cleared) and 4:2:2
    (expanded) are copies, decoded without pydicom's warning that it cannot give a view."""
    ds = pydicom.dcmread(data_path(name))
    expected = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(ds, raw=True)[0]
    with caplog.at_level("WARNING", logger="pydicom"):
        stored = decode(ds, 1 << 30).stored
    assert np.shares_memory(stored, np.frombuffer(ds.PixelData, np.uint8)) == viewed
    assert stored.flags.writeable != viewed
    assert np.array_equal(stored.reshape(expected.shape), expected)
    assert not caplog.records


def test_overlay_bits_above_high_bit_are_cleared(detector):
    """An old-style overlay plane (bit 13 of 12-bit data) spelling text is PHI: the file is
    rewritten with those bits cleared even where the detector finds nothing to black out."""
    from scrubber.pipeline import scrub_dataset
    from scrubber.policy import Policy

    ds = pydicom.dcmread(data_path("emri_small.dcm"))
    assert int(ds.BitsStored) == 12 and int(ds.BitsAllocated) == 16
    pixels = np.frombuffer(ds.PixelData, "<u2").copy().reshape(10, 64, 64)
    original = pixels.copy()
    pixels[:, 20:24, 10:50] |= 1 << 13
    ds.PixelData = pixels.tobytes()

    result = scrub_dataset(ds, Policy(device="cpu"), detector)

    assert result.unused_bits_cleared and result.pixels_changed
    written = np.frombuffer(result.dataset.PixelData, "<u2").reshape(10, 64, 64)
    assert not (written >> 12).any()
    untouched = np.ones((64, 64), bool)
    for box in result.boxes[0]:
        untouched[box[1]:box[3], box[0]:box[2]] = False
    assert np.array_equal(written[:, untouched], original[:, untouched])


def test_jpeg_baseline_is_written_natively_when_dct_is_turned_off():
    """Natively, its YBR becomes RGB (valid in every IOD): the input's decode (libjpeg-turbo, as most
    viewers show it) by pydicom's YBR_FULL equations; pydicom's own pixel_array within rounding."""
    original = pydicom.dcmread(data_path("examples_ybr_color.dcm"))
    frames = decode(original, 1 << 30)
    boxes = [[(10, 10, 60, 30)]] * frames.count
    redacted = redact(frames.stored, boxes, fill_value(frames, original))
    ds = copy.deepcopy(original)
    encoded = encode(ds, frames, redacted, boxes, jpeg_dct=False)
    assert (encoded.syntax, encoded.method, encoded.photometric) == (NATIVE, "explicit_le", "RGB")
    assert (ds.PhotometricInterpretation, ds.PlanarConfiguration) == ("RGB", 0)
    assert np.array_equal(encoded.after, convert_color_space(redacted, "YBR_FULL", "RGB"))
    outside = np.ones(redacted.shape[1:3], bool)
    outside[10:30, 10:60] = False
    shown = convert_color_space(frames.stored, "YBR_FULL", "RGB")
    written = _round_trip(ds).pixel_array
    assert np.array_equal(written[:, outside], shown[:, outside])
    assert np.abs(written[:, outside].astype(int) - original.pixel_array[:, outside]).max() <= 3
    assert (encoded.after[:, ~outside] == 0).all()


def test_native_ybr_full_422_is_written_as_ybr_full_colour_by_plane():
    """Its values are kept (the decode holds every chroma sample); YBR_FULL goes by plane, as the
    US Image module asks."""
    original = pydicom.dcmread(data_path("SC_ybr_full_422_uncompressed.dcm"))
    frames = decode(original, 1 << 30)
    boxes = [[(4, 4, 20, 12)]] * frames.count
    redacted = redact(frames.stored, boxes, fill_value(frames, original))
    ds = copy.deepcopy(original)
    encoded = encode(ds, frames, redacted, boxes)
    assert (encoded.syntax, encoded.photometric) == (str(original.file_meta.TransferSyntaxUID), None)
    assert (ds.PhotometricInterpretation, ds.PlanarConfiguration) == ("YBR_FULL", 1)
    arr, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(_round_trip(ds), raw=True)
    assert np.array_equal(arr.reshape(redacted.shape), redacted)


def test_16_bit_ybr_renders_like_its_8_bit_twin():
    from dataclasses import replace

    ds = pydicom.dcmread(data_path("SC_ybr_full_uncompressed.dcm"))
    frames = decode(ds, 1 << 30)
    wide = replace(frames, stored=frames.stored.astype(np.uint16) << 8 | 0x7F, bits_stored=16)
    assert np.array_equal(render.full(wide, ds), render.full(frames, ds))


def test_ybr_frames_render_as_pydicom_converts_them():
    """The "full" rendering of 8-bit YBR (a JPEG ultrasound clip's frames, reordered for OpenCV)
    is pydicom's own YBR_FULL to RGB conversion within one level, channel by channel."""
    ds = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    frames = decode(ds, 1 << 30)
    stored = frames.stored[:3]
    rendered = render._ybr_to_rgb(stored)
    want = convert_color_space(stored, "YBR_FULL", "RGB").astype(np.int16)
    assert frames.photometric == "YBR_FULL_422"
    assert np.abs(rendered.astype(np.int16) - want).max() <= 1
    assert not np.array_equal(rendered[..., 1], rendered[..., 2])  # colour kept apart, not swapped
