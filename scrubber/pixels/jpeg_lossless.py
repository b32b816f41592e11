"""A JPEG lossless encoder (ITU T.81 process 14, Huffman, first-order prediction), so that JPEG
Lossless files (1.2.840.10008.1.2.4.57 and .70) are written back in their own syntax: no library
that pydicom uses can encode them.

One frame is one scan: every component interleaved, predictor 1 (the sample to the left; the
sample above in the first column; 2^(P-1) for the first sample), no point transform, no restart
intervals, and one Huffman table per component built from the frame's own statistics (T.81 K.2,
code lengths limited to 16 bits). Numpy does the bit packing, so a 640x480 RGB frame takes tens
of milliseconds, not seconds.
"""
from __future__ import annotations

import numpy as np

from .huffman import canonical_codes, code_lengths, pack_codes, segment

_CATEGORIES = 17  # SSSS 0..16 (16: the difference 32768, no extra bits)


def sof3_precision(codestream: bytes) -> int:
    """Sample precision P of a JPEG lossless codestream (its SOF3 segment), to write frames alike."""
    data = bytes(codestream)
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("JPEG marker segments are broken")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xC3:
            return data[pos + 4]
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    raise ValueError("no SOF3 segment: not a JPEG lossless (Huffman) codestream")


def _differences(frame: np.ndarray, precision: int) -> np.ndarray:
    """Prediction differences (rows, cols, components) for predictor 1, modulo 2^16."""
    x = frame.astype(np.int64)
    pred = np.empty_like(x)
    pred[:, 1:] = x[:, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[0, 0] = 1 << (precision - 1)
    diff = (x - pred) % 65536
    return np.where(diff >= 32768, diff - 65536, diff)


def _categories(diff: np.ndarray) -> np.ndarray:
    magnitude = np.abs(diff)
    ssss = np.zeros(diff.shape, np.int64)
    nonzero = magnitude > 0
    ssss[nonzero] = np.floor(np.log2(magnitude[nonzero])).astype(np.int64) + 1
    return ssss


def encode_frame(frame: np.ndarray, precision: int) -> bytes:
    """Encode one frame, (rows, cols) or (rows, cols, components) of unsigned ``precision``-bit
    values, as a JPEG lossless SV1 codestream."""
    if frame.ndim == 2:
        frame = frame[..., None]
    rows, cols, components = frame.shape
    if not 2 <= precision <= 16 or components > 4 or not rows or not cols:
        raise ValueError("JPEG lossless takes 2-16 bit samples and at most 4 components")
    if int(frame.min(initial=0)) < 0 or int(frame.max(initial=0)) >= 1 << precision:
        raise ValueError("sample values do not fit the precision")
    diff = _differences(frame, precision)
    ssss = _categories(diff)
    tables, code_of, length_of = [], [], []
    for c in range(components):
        lengths = code_lengths(np.bincount(ssss[..., c].ravel(), minlength=_CATEGORIES))
        codes, body = canonical_codes(lengths)
        tables.append(segment(0xC4, bytes((c,)) + body))  # class 0 (DC/lossless), table c
        code_of.append(codes)
        length_of.append(lengths)
    code_of_all, length_of_all = np.stack(code_of, axis=-1), np.stack(length_of, axis=-1)
    comp = np.arange(components)[None, None, :]
    huff_len = length_of_all[ssss, comp]
    extra = np.where(diff >= 0, diff, diff - 1) & ((1 << ssss) - 1)
    extra = np.where(ssss == 16, 0, extra)
    extra_len = np.where(ssss == 16, 0, ssss)
    values = (code_of_all[ssss, comp] << extra_len) | extra
    scan = pack_codes(values.ravel(), (huff_len + extra_len).ravel())
    sof = bytes((precision,)) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + bytes((components,))
    sof += b"".join(bytes((c, 0x11, 0)) for c in range(components))
    sos = bytes((components,)) + b"".join(bytes((c, c << 4)) for c in range(components)) + bytes((1, 0, 0))
    return b"\xff\xd8" + segment(0xC3, sof) + b"".join(tables) + segment(0xDA, sos) + scan + b"\xff\xd9"
