"""PALETTE COLOR indices to RGB, with the palette read in the file's own byte order.

pydicom 3.0's ``apply_color_lut`` reads plain (not segmented) 16-bit LUT data in the machine's
byte order whatever the transfer syntax: in an Explicit VR Big Endian file every entry comes out
byte-swapped (256 becomes 1), the image renders near black and its burned-in text is invisible to
OCR (pydicom's OBXXXX1A_expb.dcm was delivered with its text). Here such data is swapped to the
machine's order first; segmented data and 8-bit entries pydicom already reads right.

The colours of every value of the indices' type (256 or 65536) are made once per palette and
remembered (TABLES of them): pydicom expands a segmented palette in Python (46 ms for
gdcm-US-ALOKA-16's), and a file's rendering, its fill value and the files of a series after it
would each expand it again.
"""
from __future__ import annotations

import hashlib
import sys

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

from ..lru import Lru

COLOURS = ("Red", "Green", "Blue", "Alpha")  # the LUT data apply_color_lut reads (one descriptor, Red's)
READ = ("PixelPresentation", "RedPaletteColorLookupTableDescriptor",  # ... and every element it reads
        *(f"{segmented}{colour}PaletteColorLookupTableData" for segmented in ("", "Segmented") for colour in COLOURS))
TABLES = 8  # palettes whose colours of every index are remembered
_tables: Lru[np.ndarray] = Lru(TABLES)


def _big_endian(ds: Dataset) -> bool:
    """Whether ``ds`` was encoded big endian (its transfer syntax, else how it was read)."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_transfer_syntax:
        return not syntax.is_little_endian
    little = getattr(ds, "original_encoding", (None, None))[1]
    return little is False


def palette_rgb(indices: np.ndarray, ds: Dataset) -> np.ndarray:
    """``apply_color_lut(indices, ds)`` with 16-bit plain LUT data read in ``ds``'s byte order, from
    the palette's table of the colours of every value of ``indices``' type (8 or 16-bit unsigned)."""
    if indices.dtype not in (np.uint8, np.uint16):
        return _applied(indices, ds)
    key = _palette_key(ds, indices.dtype)
    table = _tables.get(key)
    if table is None:
        table = _applied(np.arange(np.iinfo(indices.dtype).max + 1, dtype=indices.dtype), ds)
        _tables.put(key, table)
    return np.take(table, indices, axis=0)  # (faster than indexing with the array)


def _palette_key(ds: Dataset, dtype: np.dtype) -> tuple[str, bool, bytes]:
    """What the colours of ``dtype``'s values depend on: the elements ``apply_color_lut`` reads
    (their digest) and the byte order they were written in."""
    digest = hashlib.blake2b(digest_size=16)
    for keyword in READ:
        value = ds.get(keyword)
        digest.update(keyword.encode() + b"=" + (bytes(value) if isinstance(value, bytes) else repr(value).encode()))
    return np.dtype(dtype).str, _big_endian(ds), digest.digest()


def _applied(indices: np.ndarray, ds: Dataset) -> np.ndarray:
    """``apply_color_lut(indices, ds)``, 16-bit plain LUT data swapped to the machine's order first."""
    entries = int(ds.RedPaletteColorLookupTableDescriptor[0]) or 65536
    data = {colour: ds.get(f"{colour}PaletteColorLookupTableData") for colour in COLOURS}
    big = _big_endian(ds)
    if big == (sys.byteorder == "big") or data["Red"] is None or len(data["Red"]) != 2 * entries:
        return apply_color_lut(indices, ds)
    native = Dataset()  # a new dataset: ``ds`` (the input) is never changed
    native.RedPaletteColorLookupTableDescriptor = list(ds.RedPaletteColorLookupTableDescriptor)
    if "PixelPresentation" in ds:  # pydicom refuses supplemental palettes: so must we
        native.PixelPresentation = ds.PixelPresentation
    for colour, raw in data.items():
        if raw is not None:
            entries_in_file_order = np.frombuffer(raw, ">u2" if big else "<u2")
            setattr(native, f"{colour}PaletteColorLookupTableData", entries_in_file_order.astype("=u2").tobytes())
    return apply_color_lut(indices, native)
