"""Large scanned pages are read at half their size: their print then has a height the text detector
reads well, at a quarter of the cost.

A letter page scanned at 200-300 dpi is 2200-3300 px tall. The capitals of its body print are
15-32 px high and even those of 6 pt fine print 12-18 px: at half size 6-9 px, no smaller than
the 5 px print of the recall sweep's scanned forms, which the detector reads. At full size such a
page goes through the detector in tiles, every rendering of it: 2.4-15 s a page on two cores,
0.6-2.7 s at half size (benchmarks/large_pages.py: every label removed either way).
The header says which images are scanned: the Secondary Capture family's Conversion Type (Type 1)
is SD (scanned document), SI (scanned image) or DF (digitized film). A screen capture (WSD, DV,
DI) keeps its size: a 2560 px screenshot's 10 px interface text would be 5 px at half.
Boxes found at the reduced size are scaled back to the stored pixels, where they are tightened.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from pydicom.dataset import Dataset

from .boxes import Detection
from .pages import SECONDARY_CAPTURE

SCANNED = frozenset({"SD", "SI", "DF"})  # Conversion Types of a scan: document, image, film
LARGE_SIDE = 2048  # a scan longer than this on a side (the detector would read it in tiles) ...
REDUCED = 0.5  # ... is read at this scale


def reading_scale(ds: Dataset, rows: int, columns: int) -> float:
    """The scale at which the frames of ``ds`` (``rows`` x ``columns``) are read: REDUCED for a large
    scanned Secondary Capture, else 1."""
    if max(rows, columns) <= LARGE_SIDE or str(ds.get("SOPClassUID", "")) not in SECONDARY_CAPTURE:
        return 1.0
    return REDUCED if str(ds.get("ConversionType", "")).strip().upper() in SCANNED else 1.0


def reduced(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` at ``scale`` (area averaging: a thin faint stroke stays, lighter)."""
    if scale == 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)


def enlarged(detections: list[Detection], scale: float, rows: int, columns: int) -> list[Detection]:
    """``detections`` found at ``scale``, on an image of ``rows`` x ``columns`` at full size: each
    box grown outwards to whole pixels there."""
    if scale == 1.0:
        return detections
    out = []
    for detection in detections:
        x0, y0, x1, y1 = detection.box
        box = (max(0, math.floor(x0 / scale)), max(0, math.floor(y0 / scale)),
               min(columns, math.ceil(x1 / scale)), min(rows, math.ceil(y1 / scale)))
        out.append(Detection(box, detection.detector, detection.rendering))
    return out
