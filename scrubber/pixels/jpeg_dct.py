"""Redact a lossy JPEG frame (8 or 12 bits) in the DCT domain, so that blocks outside the box are
not re-quantised.

Decoding a lossy JPEG and encoding it again loses information in every block of the image
(generation loss). Here only the blocks that touch the mask are rewritten as flat black blocks
(8x8 pixels of luma; a subsampled chroma block covers its whole MCU and goes neutral, so the MCU's
other luma blocks keep their brightness and lose only colour); every other block keeps its
quantised coefficients bit for bit, and the
quantisation tables, sampling factors, component ids and APPn/COM segments are kept. Only the
Huffman coding is redone (lossless). 8-bit frames go through libjpeg (jpeglib), with the
standard tables of ITU T.81 Annex K when the input used them (most encoders do, so the tables and
the cost of each untouched block stay as they were), else with tables optimised for the new
frame; 12-bit frames, which jpeglib cannot open, through our own coefficient codec
(scrubber/pixels/jpeg_entropy.py), which keeps the input's tables where they can code the result.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass

import cv2
import numpy as np

from ..quiet import native_stderr
from . import jpeg_entropy
from .jpeg_entropy import huffman_tables, marker_segments
from .scratch import scratch_folder

SOI = b"\xff\xd8"
SOF_SEQUENTIAL = (0xC0, 0xC1)
SOF_OTHER = (0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)
SOS = 0xDA
COM = 0xFE
ADOBE = b"Adobe"

# Verification thresholds, measured on the pydicom test files (see tests/test_jpeg_dct.py).
# A flat block with DC = -ceil(8 * 2^(P-1) / Q00) decodes to exactly 0 (clipped), chroma DC 0 to 2^(P-1),
# with pylibjpeg-libjpeg; the margins allow for decoders with other IDCT rounding.
DARK_MAX = 2
CHROMA_TOLERANCE = 2
# Chroma upsampling in both libjpeg (pylibjpeg) and libjpeg-turbo (OpenCV, Pillow) interpolates
# between neighbouring chroma samples, so it reaches one pixel across an MCU border, both ways:
# pixels up to HALO outside the grown mask may change, and a masked pixel within HALO of the grown
# border would get some chroma from outside. The mask is therefore dilated by HALO before it is
# grown to MCUs (colour only), and verification ignores HALO pixels around the grown mask.
HALO = 1


@dataclass(frozen=True)
class _Header:
    """What the frame header and APP markers say about the coding, before libjpeg touches it."""

    precision: int
    shape: tuple[int, int]  # rows, columns
    components: tuple[tuple[int, int, int], ...]  # (id, h, v)
    keep: tuple[bytes, ...]  # APPn and COM segments, verbatim
    adobe_transform: int | None
    jfif: bool


def _header(data: bytes) -> _Header:
    precision, shape = 0, (0, 0)
    components: tuple[tuple[int, int, int], ...] = ()
    keep: list[bytes] = []
    adobe: int | None = None
    jfif = False
    for marker, seg in marker_segments(data)[0]:
        if marker in SOF_OTHER:
            raise ValueError(f"JPEG process with SOF{marker - 0xC0} is not supported (baseline/extended only)")
        if marker in SOF_SEQUENTIAL:
            precision = seg[4]
            shape = (int.from_bytes(seg[5:7], "big"), int.from_bytes(seg[7:9], "big"))
            n = seg[9]
            components = tuple((seg[10 + 3 * k], seg[11 + 3 * k] >> 4, seg[11 + 3 * k] & 15) for k in range(n))
        elif 0xE0 <= marker <= 0xEF or marker == COM:
            keep.append(seg)
            body = seg[4:]
            if marker == 0xE0 and body[:5] == b"JFIF\x00":
                jfif = True
            if marker == 0xEE and body[:5] == ADOBE and len(body) >= 12:
                adobe = body[11]
    if not components:
        raise ValueError("JPEG stream has no baseline/extended frame header")
    if precision not in (8, 12):
        raise ValueError(f"{precision}-bit JPEG is not supported (8 or 12 bits only)")
    if len(components) not in (1, 3):
        raise ValueError(f"{len(components)}-component JPEG is not supported")
    return _Header(precision, shape, components, tuple(keep), adobe, jfif)


def _is_rgb(header: _Header) -> bool:
    """Whether the three components are R, G, B rather than Y, Cb, Cr (libjpeg's rules)."""
    if len(header.components) != 3:
        return False
    if header.adobe_transform is not None:
        return header.adobe_transform == 0
    if header.jfif:
        return False
    ids = tuple(c[0] for c in header.components)
    return ids == (ord("R"), ord("G"), ord("B"))


def _grid_mask(mask: np.ndarray, cell_h: int, cell_w: int) -> np.ndarray:
    """Mask on a grid of ``cell_h`` x ``cell_w`` pixel cells: True for every cell holding a masked pixel.
    Only the cells over the mask's bounding box are reduced (a frame's boxes cover little of it)."""
    rows, cols = mask.shape
    grid = np.zeros((math.ceil(rows / cell_h), math.ceil(cols / cell_w)), dtype=bool)
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return grid
    g0, g1 = ys[0] // cell_h, ys[-1] // cell_h + 1
    h0, h1 = xs[0] // cell_w, xs[-1] // cell_w + 1
    part = np.zeros(((g1 - g0) * cell_h, (h1 - h0) * cell_w), dtype=bool)
    window = mask[g0 * cell_h : g1 * cell_h, h0 * cell_w : h1 * cell_w]
    part[: window.shape[0], : window.shape[1]] = window
    cells = part.reshape(g1 - g0, cell_h, (h1 - h0) * cell_w).any(axis=1)
    grid[g0:g1, h0:h1] = cells.reshape(g1 - g0, h1 - h0, cell_w).any(axis=2)
    return grid


def _splice(original: _Header, written: bytes) -> bytes:
    """libjpeg's output with the original APPn/COM segments and component ids put back.

    libjpeg writes a JFIF or Adobe marker from the guessed colour space and then the saved copies
    again, and renumbers the components from 0; a changed or duplicated marker, or ids no longer
    1, 2, 3 or R, G, B, could make a decoder pick another colour transform.
    """
    parts = [SOI, *original.keep]
    ids: dict[int, int] = {}
    segments, start = marker_segments(written)
    for marker, seg in segments:
        if 0xE0 <= marker <= 0xEF or marker == COM:
            continue
        if marker in SOF_SEQUENTIAL:
            seg = bytearray(seg)
            for k, (cid, _, _) in enumerate(original.components):
                ids[seg[10 + 3 * k]] = cid
                seg[10 + 3 * k] = cid
            seg = bytes(seg)
        elif marker == SOS:
            seg = bytearray(seg)
            for k in range(seg[4]):
                seg[5 + 2 * k] = ids[seg[5 + 2 * k]]
            seg = bytes(seg)
        parts.append(seg)
    return b"".join(parts) + written[start:]


def _decode(data: bytes) -> np.ndarray:
    """Raw component samples (no colour transform), as pydicom's pylibjpeg plugin decodes them."""
    from libjpeg import decode

    try:
        out = decode(data, 0)
    except RuntimeError as exc:
        raise ValueError(f"JPEG does not decode: {exc}") from exc
    return out if out.ndim == 3 else out[..., None]


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Grow a (rows, cols) mask by ``px`` pixels in every direction (diagonals included)."""
    if px <= 0:
        return mask
    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    grown = cv2.dilate(np.ascontiguousarray(mask, dtype=np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return grown.astype(bool)


def check_redacted(old: np.ndarray, new: np.ndarray, mask: np.ndarray, grown: np.ndarray, rgb: bool,
                   precision: int = 8) -> None:
    """Decoded components (rows, cols, samples) before and after: everything outside the grown mask
    (plus HALO) unchanged, everything inside the mask black (ValueError otherwise). OpenCV's masked
    operations do it without copying the pixels out (this runs per frame: 0.6 against 1.9 ms)."""
    if old.shape != new.shape or old.shape[:2] != mask.shape:
        raise ValueError(f"decoded shape changed: {old.shape} -> {new.shape} (mask {mask.shape})")
    rows = old.shape[0]
    outside = np.ascontiguousarray(~dilate(grown, HALO)).view(np.uint8)
    diff = cv2.absdiff(old, new)
    kept = cv2.bitwise_and(diff, diff, dst=np.zeros_like(diff), mask=outside)
    if cv2.countNonZero(kept.reshape(rows, -1)):
        raise ValueError("pixels outside the redacted blocks changed")
    inside = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    if not inside.any():
        return
    planes = [new] if new.ndim == 2 else [np.ascontiguousarray(new[..., c]) for c in range(new.shape[2])]
    ranges = [cv2.minMaxLoc(plane, mask=inside)[:2] for plane in planes]
    if rgb or len(planes) == 1:
        top = int(max(high for _, high in ranges))
        if top > DARK_MAX:
            raise ValueError(f"redacted pixels not black (max {top})")
        return
    middle = 1 << (precision - 1)
    chroma = max(max(abs(low - middle), abs(high - middle)) for low, high in ranges[1:])
    if ranges[0][1] > DARK_MAX or chroma > CHROMA_TOLERANCE:
        raise ValueError("redacted pixels not black in Y/Cb/Cr")


def _verify(before: bytes, after: bytes, mask: np.ndarray, grown: np.ndarray, rgb: bool, precision: int) -> None:
    check_redacted(_decode(before), _decode(after), mask, grown, rgb, precision)


def redact_frame(
    fragment: bytes, mask: np.ndarray, black: bool = True, rgb: bool | None = None, verify: bool = True
) -> tuple[bytes, np.ndarray]:
    """Black out the blocks that touch `mask` in a baseline/extended JPEG (8 or 12 bits), without re-quantising the rest.

    fragment: one frame's complete JPEG bitstream. mask: bool (rows, cols), True where pixels must go.
    black: must be True (the only fill a flat DCT block can give exactly for every component).
    rgb: whether the components are R, G, B (no colour transform); None infers it from the APP14/JFIF
    markers and component ids as libjpeg does. Pass it from the Photometric Interpretation when the
    stream carries no such markers.
    verify: decode both streams and ``check_redacted`` them; a caller that decodes the result
    anyway (``encode``, for the whole file) passes False and runs ``check_redacted`` itself.
    Returns the new JPEG bytes and the pixels of every blanked block (the pixels that may change).
    Raises ValueError when the stream is unsupported or the result fails verification.
    """
    if not black:
        raise ValueError("only black fill is supported in the DCT domain")
    header = _header(fragment)
    mask = np.asarray(mask, dtype=bool)
    if header.shape != mask.shape:
        raise ValueError(f"mask {mask.shape} does not match the frame {header.shape}")
    if rgb is None:
        rgb = _is_rgb(header)
    sampling = _sampling(header)
    touched = _touched_blocks(mask, sampling)
    grown = _footprint(touched, sampling, mask.shape)

    shift = 8 << (header.precision - 1)  # the level shift as a DC coefficient: -shift decodes to 0
    if header.precision == 12:
        written = _rewrite_12bit(fragment, touched, rgb, shift)
    else:
        written = _rewrite_8bit(fragment, header, touched, rgb, shift)
    out = _splice(header, written)
    if verify:
        _verify(fragment, out, mask, grown, rgb, header.precision)
    return out, grown


def _sampling(header: _Header) -> list[tuple[int, int]]:
    """(h, v) blocks per MCU of each component (a lone component's MCU is one block)."""
    return [(1, 1)] if len(header.components) == 1 else [(h, v) for _, h, v in header.components]


def blocks_to_blank(fragment: bytes, mask: np.ndarray) -> list[np.ndarray]:
    """Per component, the blocks (block rows, block columns, within the image) that ``redact_frame``
    blanks for ``mask``: what a size comparison should count as removed."""
    return _touched_blocks(np.asarray(mask, dtype=bool), _sampling(_header(fragment)))


def _block_size(sampling: list[tuple[int, int]], index: int) -> tuple[int, int]:
    """Pixels (rows, columns) one block of component ``index`` covers: 8 times its subsampling."""
    h_max, v_max = max(h for h, _ in sampling), max(v for _, v in sampling)
    h, v = sampling[index]
    return 8 * v_max // v, 8 * h_max // h


def _touched_blocks(mask: np.ndarray, sampling: list[tuple[int, int]]) -> list[np.ndarray]:
    """Per component, its blocks that touch the mask: 8x8-pixel blocks of a full-resolution
    component, larger ones (up to the MCU) of a subsampled one, whose mask is first dilated by HALO
    (chroma upsampling reaches one pixel across a block border). Luma is thus blanked by 8x8 block
    while its chroma goes neutral by MCU: the MCU's other luma blocks keep their coefficients."""
    full = max(h for h, _ in sampling), max(v for _, v in sampling)
    touched = []
    for index, (h, v) in enumerate(sampling):
        size = _block_size(sampling, index)
        reach = mask if (h, v) == full else dilate(mask, HALO)
        touched.append(_grid_mask(reach, *size))
    return touched


def _footprint(touched: list[np.ndarray], sampling: list[tuple[int, int]], shape: tuple[int, int]) -> np.ndarray:
    """Pixels covered by any touched block of any component (the pixels that may change)."""
    grown = np.zeros(shape, dtype=bool)
    for index, blocks in enumerate(touched):
        rows, cols = _block_size(sampling, index)
        grown |= np.repeat(np.repeat(blocks, rows, axis=0), cols, axis=1)[: shape[0], : shape[1]]
    return grown


def plane_blocks(touched: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``touched`` on a component's whole block grid (``shape`` blocks, padded to whole MCUs)."""
    blocks = np.zeros(shape, dtype=bool)
    rows, cols = min(shape[0], touched.shape[0]), min(shape[1], touched.shape[1])
    blocks[:rows, :cols] = touched[:rows, :cols]
    return blocks


def _black_dc(index: int, rgb: bool, shift: int, q00: int) -> int:
    """Quantised DC of a black block of component ``index``: -shift (decodes to 0) for luma and for
    R, G, B; 0 (the midpoint) for chroma."""
    return -math.ceil(shift / q00) if (index == 0 or rgb) else 0


def _rewrite_12bit(fragment: bytes, touched: list[np.ndarray], rgb: bool, shift: int) -> bytes:
    """The touched blocks blacked out through our own coefficient codec (jpeglib reads 8-bit JPEG only)."""
    coded = jpeg_entropy.read(fragment)
    for index, (component, blocks) in enumerate(zip(coded.components, coded.blocks)):
        black = plane_blocks(touched[index], blocks.shape[:2])
        blocks[black] = 0
        blocks[black, 0] = _black_dc(index, rgb, shift, coded.quant_dc[component.quant_table])
    return jpeg_entropy.write(coded)


def _rewrite_8bit(fragment: bytes, header: _Header, touched: list[np.ndarray], rgb: bool, shift: int) -> bytes:
    """The touched blocks blacked out through libjpeg's coefficient access (jpeglib)."""
    import jpeglib

    with tempfile.TemporaryDirectory(dir=scratch_folder()) as tmp, native_stderr():
        src, dst = os.path.join(tmp, "in.jpg"), os.path.join(tmp, "out.jpg")
        with open(src, "wb") as fh:
            fh.write(fragment)
        try:
            jpeg = jpeglib.read_dct(src)
            planes = [jpeg.Y, jpeg.Cb, jpeg.Cr][: len(header.components)]
        except (IOError, OSError) as exc:
            raise ValueError(f"libjpeg cannot read the coefficients: {exc}") from exc
        for index, plane in enumerate(planes):
            q00 = int(jpeg.qt[int(jpeg.quant_tbl_no[index])][0, 0])
            blocks = plane_blocks(touched[index], plane.shape[:2])
            plane[blocks] = 0
            plane[blocks, 0, 0] = _black_dc(index, rgb, shift, q00)
        written, wanted = b"", huffman_tables(fragment)
        for flags in (["-OPTIMIZE_CODING"], ["+OPTIMIZE_CODING"]):
            try:
                jpeg.write_dct(dst, flags=flags)
            except (IOError, OSError) as exc:
                raise ValueError(f"libjpeg cannot write the coefficients: {exc}") from exc
            with open(dst, "rb") as fh:
                written = fh.read()
            if huffman_tables(written) == wanted:
                break  # the input's own (standard) tables: the archive gets its coding back
    return written
