"""JPEG baseline frames decoded by libjpeg-turbo (imagecodecs), the components as stored.

pydicom's first plugin for JPEG baseline is pylibjpeg's libjpeg: 6 ms a 640x480 YBR frame here,
against 1.4 ms in libjpeg-turbo, and a redacted file is decoded twice (input and verification).
Asked for the stored colour space in and out, libjpeg-turbo applies no colour transform, as
pydicom's ``as_array(raw=True)`` does not; the two decoders then agree within a level in luma and
within three in subsampled chroma, which they upsample differently, on every JPEG baseline file of
pydicom and pydicom-data (at sharp colour edges, colour Doppler, chroma may differ by more: 16 on
0.15 % of US1's pixels after dcmcjpeg). The syntax table names the decoder (syntaxes.toml:
``decoder``); the ``second_decoder`` frame check, on luma, then compares with pydicom's.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from .syntax import rule_for

NAME = "libjpeg-turbo"
COLOUR = {"YBR_FULL": "YCBCR", "YBR_FULL_422": "YCBCR", "RGB": "RGB"}  # in and out: no colour transform
GREY = ("MONOCHROME1", "MONOCHROME2")


def decodes_first(ds: Dataset) -> bool:
    """libjpeg-turbo decodes ``ds`` (its syntax names it, and the image is unsigned 8-bit grey or
    three samples in a colour space it can leave as stored); otherwise pydicom does."""
    try:
        if rule_for(str(ds.file_meta.TransferSyntaxUID)).decoder != NAME:
            return False
        photometric, samples = str(ds.PhotometricInterpretation), int(ds.SamplesPerPixel)
        eight_bit = int(ds.BitsAllocated) == 8 and int(ds.BitsStored) == 8 and not int(ds.PixelRepresentation)
    except (AttributeError, KeyError, TypeError, ValueError):
        return False
    return eight_bit and ((samples == 3 and photometric in COLOUR) or (samples == 1 and photometric in GREY))


def decode_frame(fragment: bytes, photometric: str) -> np.ndarray:
    """One frame's components as stored, (rows, cols) or (rows, cols, 3)."""
    import imagecodecs

    colour = COLOUR.get(photometric)
    return imagecodecs.jpeg8_decode(fragment, colorspace=colour, outcolorspace=colour)


def iter_frames(ds: Dataset) -> Iterator[np.ndarray]:
    """Each frame's components as stored, one at a time."""
    photometric = str(ds.PhotometricInterpretation)
    for fragment in generate_frames(ds.PixelData, number_of_frames=_count(ds)):
        yield decode_frame(fragment, photometric)


def as_array(ds: Dataset) -> tuple[np.ndarray, dict]:
    """Every frame, stacked, and the metadata pydicom's ``as_array`` would give with it. Frames are
    decoded into one array made for them all: a long clip is not held twice on the way."""
    count = _count(ds)
    out: np.ndarray | None = None
    for index, frame in enumerate(iter_frames(ds)):
        if out is None:
            out = np.empty((count, *frame.shape), frame.dtype)
        elif index >= count or frame.shape != out.shape[1:]:
            raise ValueError(f"frame {index} decodes to {frame.shape} after {out.shape[1:]}, or past {count}")
        out[index] = frame
    if out is None:
        raise ValueError("no frames")
    return out, {"photometric_interpretation": str(ds.PhotometricInterpretation)}


def _count(ds: Dataset) -> int:
    return int(ds.get("NumberOfFrames", 1) or 1)
