"""Encapsulated Uncompressed Explicit VR Little Endian (1.2.840.10008.1.2.1.98): native frames, one
per fragment.

pydicom 3.0 names the syntax but has no decoder for it. Each fragment holds one frame exactly as
Explicit VR Little Endian would (padded to an even length), so a frame is read as native data
(and written so by ``encode``); frames left alone keep their fragments, like every other
encapsulated syntax.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_frames
from pydicom.pixels import get_decoder
from pydicom.uid import UID, ExplicitVRLittleEndian

from ..errors import DecodeFailed, UnsupportedImage

SYNTAX = UID("1.2.840.10008.1.2.1.98")


IMAGE_PIXEL = ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit",
               "PixelRepresentation", "PhotometricInterpretation", "PlanarConfiguration", "NumberOfFrames")


def as_array(ds: Dataset) -> tuple[np.ndarray, dict]:
    """Stored values of every frame and the decoder's metadata, as pydicom's ``as_array(raw=True)``
    gives them for the same frames written natively (``ds`` itself is not touched)."""
    if int(ds.BitsAllocated) == 1:
        raise UnsupportedImage("1-bit Encapsulated Uncompressed data is not supported")
    count = int(getattr(ds, "NumberOfFrames", 1) or 1)
    size = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * int(ds.BitsAllocated) // 8
    fragments = list(generate_frames(ds.PixelData, number_of_frames=count))
    if len(fragments) != count or any(len(f) not in (size, size + size % 2) for f in fragments):
        raise DecodeFailed(f"Encapsulated Uncompressed fragments do not hold {count} frames of {size} bytes")
    native = Dataset()
    native.file_meta = FileMetaDataset()
    native.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for keyword in IMAGE_PIXEL:
        if keyword in ds:
            setattr(native, keyword, ds[keyword].value)
    native.PixelData = b"".join(bytes(f[:size]) for f in fragments)
    return get_decoder(ExplicitVRLittleEndian).as_array(native, raw=True)


def iter_frames(ds: Dataset) -> Iterator[np.ndarray]:
    """Each frame's stored values (from ``as_array``: the fragments are checked as a whole)."""
    yield from as_array(ds)[0]
