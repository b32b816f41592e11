"""Overlay planes (PS3.3 C.9.2) as bitmaps, for the Clean Graphics option: read one plane from
Overlay Data, write the cleaned bitmap back. Only planes whose geometry and data agree are read;
the caller removes any other plane, so a plane that cannot be checked is never kept.
"""
from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import pack_bits


def overlay_groups(ds: Dataset) -> list[int]:
    """The groups 6000-601E (even) that hold Overlay Data."""
    return [g for g in range(0x6000, 0x6020, 2) if (g << 16 | 0x3000) in ds]


def read_overlay(ds: Dataset, group: int) -> np.ndarray:
    """The plane as (frames, rows, cols) uint8 of 0/1; ValueError when it is not consistent."""
    rows, cols = ds[group, 0x0010].value, ds[group, 0x0011].value
    bits, position = ds[group, 0x0100].value, ds[group, 0x0102].value
    frames = int(ds[group, 0x0015].value) if (group << 16 | 0x0015) in ds else 1
    if bits != 1 or position != 0 or not (0 < rows <= 65535 and 0 < cols <= 65535 and frames > 0):
        raise ValueError("overlay plane with unsupported geometry or bit layout")
    data = ds[group, 0x3000].value
    if len(data) * 8 < rows * cols * frames:
        raise ValueError("overlay data shorter than its geometry")
    plane = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[: rows * cols * frames]
    return plane.reshape(frames, rows, cols)


def write_overlay(ds: Dataset, group: int, plane: np.ndarray) -> None:
    """Store ``plane`` (frames, rows, cols of 0/1) as the group's Overlay Data (even length)."""
    ds[group, 0x3000].value = pack_bits(plane.ravel().astype(np.uint8), pad=True)
