"""Consistency checks on the Image Pixel module, before and after a decode.

pydicom decodes some broken files without a word (pixel data longer or shorter than the geometry,
impossible bit depths, LUTs that don't match their descriptors); we refuse them instead, because
a redaction computed on a wrong decode can leave text in place.
"""
from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels.utils import get_expected_length

from ..errors import InconsistentImage, NoPixelData, TooLarge, UnsupportedImage

REQUIRED = ("Rows", "Columns", "BitsAllocated", "BitsStored", "SamplesPerPixel",
            "PhotometricInterpretation", "PixelRepresentation")
SAMPLES_FOR = {
    "MONOCHROME1": 1, "MONOCHROME2": 1, "PALETTE COLOR": 1, "RGB": 3, "YBR_FULL": 3,
    "YBR_FULL_422": 3, "YBR_RCT": 3, "YBR_ICT": 3, "YBR_PARTIAL_420": 3,
}
LUT_COLOURS = ("Red", "Green", "Blue")


def number_of_frames(ds: Dataset) -> int:
    """NumberOfFrames as a positive int; absent means one frame."""
    raw = ds.get("NumberOfFrames", 1)
    try:
        frames = int(raw if raw not in (None, "") else 1)
    except (TypeError, ValueError):
        raise InconsistentImage("Number of Frames is not an integer") from None
    if frames < 1:
        raise InconsistentImage(f"Number of Frames is {frames}")
    return frames


def check_geometry(ds: Dataset, max_samples: int, encapsulated: bool) -> int:
    """Validate the Image Pixel module against itself and the Pixel Data length; return frames."""
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise UnsupportedImage("float pixel data is not supported")
        raise NoPixelData("no Pixel Data element")
    missing = [k for k in REQUIRED if ds.get(k) in (None, "")]
    if missing:
        raise InconsistentImage(f"missing Image Pixel attributes: {', '.join(missing)}")
    rows, cols = int(ds.Rows), int(ds.Columns)
    bits_alloc, bits_stored = int(ds.BitsAllocated), int(ds.BitsStored)
    spp, pi = int(ds.SamplesPerPixel), str(ds.PhotometricInterpretation).strip()
    if rows < 1 or cols < 1:
        raise InconsistentImage(f"image size {rows}x{cols}")
    if bits_alloc not in (1, 8, 16, 32):
        raise UnsupportedImage(f"Bits Allocated {bits_alloc}")
    if not 1 <= bits_stored <= bits_alloc:
        raise InconsistentImage(f"Bits Stored {bits_stored} with Bits Allocated {bits_alloc}")
    high_bit = ds.get("HighBit")
    if high_bit is not None and int(high_bit) != bits_stored - 1:
        raise InconsistentImage(f"High Bit {high_bit} with Bits Stored {bits_stored}")
    if int(ds.PixelRepresentation) not in (0, 1):
        raise InconsistentImage(f"Pixel Representation {ds.PixelRepresentation}")
    if pi not in SAMPLES_FOR:
        raise UnsupportedImage(f"photometric interpretation {pi!r}")
    if SAMPLES_FOR[pi] != spp:
        raise InconsistentImage(f"{pi} with Samples per Pixel {spp}")
    if spp == 3 and int(ds.get("PlanarConfiguration", 0) or 0) not in (0, 1):
        raise InconsistentImage("Planar Configuration is not 0 or 1")
    if spp == 3 and int(ds.PixelRepresentation) == 1:  # colour samples are unsigned (PS3.3 C.7.6.3.1)
        raise InconsistentImage(f"{pi} with signed samples (Pixel Representation 1)")
    frames = number_of_frames(ds)
    total = rows * cols * frames * spp
    if total > max_samples:
        raise TooLarge(f"{rows}x{cols}x{frames} frames x{spp} samples exceeds the limit of {max_samples} samples "
                       "(--max-samples)")
    if pi == "PALETTE COLOR":
        check_palette(ds)
    if not encapsulated:
        expected = get_expected_length(ds, "bytes")
        actual = len(ds.PixelData)
        if actual < expected:
            raise InconsistentImage(f"Pixel Data is truncated: {actual} bytes for a geometry of {expected}")
        if actual > expected + (expected % 2):
            raise InconsistentImage(f"Pixel Data holds {actual} bytes, more than the geometry's {expected}")
    return frames


def encapsulated_frames(ds: Dataset, frames: int) -> list[bytes]:
    """Each frame's codestream, split out of encapsulated Pixel Data once (the frame checks read
    them); there must be as many as the header gives."""
    try:
        found = list(generate_frames(ds.PixelData, number_of_frames=frames))
    except Exception as exc:
        raise InconsistentImage(f"encapsulated Pixel Data cannot be split into frames ({type(exc).__name__})") from None
    if len(found) != frames:
        raise InconsistentImage(f"encapsulated Pixel Data holds {len(found)} frames, the header gives {frames}")
    return found


def check_palette(ds: Dataset) -> None:
    """A palette must have three descriptors and LUT data (plain or segmented) of matching size."""
    for colour in LUT_COLOURS:
        desc = ds.get(f"{colour}PaletteColorLookupTableDescriptor")
        if desc is None or len(desc) != 3:
            raise InconsistentImage(f"{colour} palette descriptor missing or malformed")
        entries = int(desc[0]) or 65536
        if int(desc[2]) not in (8, 16):
            raise InconsistentImage(f"{colour} palette has {desc[2]} bits per entry")
        data = ds.get(f"{colour}PaletteColorLookupTableData")
        segmented = ds.get(f"Segmented{colour}PaletteColorLookupTableData")
        if data is None and segmented is None:
            raise InconsistentImage(f"{colour} palette data missing")
        if data is not None:
            nbytes = len(data.value if hasattr(data, "value") else data)
            if nbytes not in (entries, entries * 2, entries * 2 + 1, entries + 1):
                raise InconsistentImage(f"{colour} palette holds {nbytes} bytes for {entries} entries")


def check_decoded(arr: np.ndarray, rows: int, cols: int, frames: int, spp: int) -> np.ndarray:
    """Return the decode as (frames, rows, cols, samples), refusing any other shape."""
    expected = (frames, rows, cols, spp)
    if arr.size != np.prod(expected):
        raise InconsistentImage(f"decoded {arr.shape}, expected frames x rows x cols x samples {expected}")
    return arr.reshape(expected)
