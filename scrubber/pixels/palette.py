"""PALETTE COLOR indices to RGB, with the palette read in the file's own byte order.

pydicom 3.0's ``apply_color_lut`` reads plain (not segmented) 16-bit LUT data in the machine's
byte order whatever the transfer syntax: in an Explicit VR Big Endian file every entry comes out
byte-swapped (256 becomes 1), the image renders near black and its burned-in text is invisible to
OCR (pydicom's OBXXXX1A_expb.dcm was delivered with its text). Here such data is swapped to the
machine's order first; segmented data and 8-bit entries pydicom already reads right.
"""
from __future__ import annotations

import sys

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

COLOURS = ("Red", "Green", "Blue", "Alpha")  # the LUT data apply_color_lut reads (one descriptor, Red's)


def _big_endian(ds: Dataset) -> bool:
    """Whether ``ds`` was encoded big endian (its transfer syntax, else how it was read)."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_transfer_syntax:
        return not syntax.is_little_endian
    little = getattr(ds, "original_encoding", (None, None))[1]
    return little is False


def palette_rgb(indices: np.ndarray, ds: Dataset) -> np.ndarray:
    """``apply_color_lut(indices, ds)`` with 16-bit plain LUT data read in ``ds``'s byte order."""
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
