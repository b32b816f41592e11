"""A model-free proposer of glyph-like marks (OpenCV morphology, about a millisecond a frame).

It never decides alone what is removed: it points at small, sharp marks on a flat background that
the OCR pass did not cover (a lone "Y", a colon, one digit), so that OCR can look again, closer.
"""
from __future__ import annotations

import cv2
import numpy as np

from .boxes import Box

MIN_HEIGHT, MAX_HEIGHT = 5, 40
MAX_WIDTH = 60
MIN_CONTRAST = 24.0  # grey levels between a mark and its background
FLAT_SHARE = 0.8  # the background around a glyph on a banner or panel is flat: this share of
FLAT_TOLERANCE = 10.0  # the ring lies within this many grey levels of the ring's median
RING = 3
MAX_PROPOSALS = 200


def propose(image: np.ndarray) -> list[Box]:
    """Boxes of character-sized, high-contrast marks whose surroundings are flat."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    gradient = cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    threshold, _ = cv2.threshold(gradient, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = (gradient >= max(threshold, MIN_CONTRAST)).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    height, width = grey.shape
    out: list[Box] = []
    for x, y, w, h, _ in stats[1:count]:
        if not (MIN_HEIGHT <= h <= MAX_HEIGHT and w <= MAX_WIDTH):
            continue
        x0, y0, x1, y1 = max(0, x - RING), max(0, y - RING), min(width, x + w + RING), min(height, y + h + RING)
        window = grey[y0:y1, x0:x1].astype(np.float32)
        inner = np.zeros(window.shape, bool)
        inner[y - y0:y - y0 + h, x - x0:x - x0 + w] = True
        ring = window[~inner]
        background = float(np.median(ring)) if ring.size else 0.0
        if ring.size < 8 or np.mean(np.abs(ring - background) <= FLAT_TOLERANCE) < FLAT_SHARE:
            continue
        if np.abs(window[inner] - background).max() < MIN_CONTRAST:
            continue
        out.append((int(x), int(y), int(x + w), int(y + h)))
        if len(out) >= MAX_PROPOSALS:
            break
    return out
