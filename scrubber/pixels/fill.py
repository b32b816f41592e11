"""The value that blacks a pixel out, in the stored representation of each photometric."""
from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from ..errors import InconsistentImage
from .decode import Frames
from .palette import palette_rgb

LUMA = np.array([0.299, 0.587, 0.114])


def _range(frames: Frames) -> tuple[int, int]:
    bits = frames.bits_stored
    if frames.signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def darkest_palette_index(ds: Dataset) -> int:
    """Stored value that maps to the darkest palette entry (first mapped value + its index)."""
    desc = ds.RedPaletteColorLookupTableDescriptor
    entries = int(desc[0]) or 65536
    first = int(desc[1])
    indices = np.arange(first, first + entries, dtype=np.int64)
    bits = int(ds.BitsAllocated)
    dtype = np.uint8 if bits == 8 else np.uint16
    if indices.max() > np.iinfo(dtype).max:
        raise InconsistentImage("palette descriptor maps beyond the stored range")
    lut = palette_rgb(indices.astype(dtype), ds).astype(np.float64)
    return int(indices[int(np.argmin(lut @ LUMA))])


def fill_value(frames: Frames, ds: Dataset) -> tuple[int, ...]:
    """One value per sample that renders as black for this image."""
    lo, hi = _range(frames)
    pi = frames.photometric
    if pi == "MONOCHROME1":
        return (hi,)
    if pi == "MONOCHROME2":
        return (lo,)
    if pi == "PALETTE COLOR":
        return (darkest_palette_index(ds),)
    if pi in ("YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_420"):
        mid = 2 ** (frames.bits_stored - 1)
        return (0, mid, mid)
    return (lo, lo, lo)
