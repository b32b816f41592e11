"""Model-free proposers (OpenCV morphology, about a millisecond a frame): where OCR should look.

They never decide alone what is removed. ``propose`` points at small, sharp marks on a flat
background that the OCR pass did not cover (a lone "Y", a colon, one digit), so that OCR can look
again, closer; ``text_lines`` points at line-shaped clusters of strokes in a rendering, so that
OCR can look at those places of an extra rendering instead of at the whole image.
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


def strokes(grey: np.ndarray) -> np.ndarray:
    """Sharp strokes of a grey image: where the morphological gradient passes its Otsu threshold,
    and at least MIN_CONTRAST (uint8 mask)."""
    gradient = cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    threshold, _ = cv2.threshold(gradient, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return (gradient >= max(threshold, MIN_CONTRAST)).astype(np.uint8)


def _strokes(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The grey image of an RGB one and its sharp strokes."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return grey, strokes(grey)


def propose(image: np.ndarray) -> list[Box]:
    """Boxes of character-sized, high-contrast marks whose surroundings are flat."""
    grey, mask = _strokes(image)
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


LINE_MIN_HEIGHT, LINE_MAX_HEIGHT = 5, 40
LINE_CLOSE = 9  # strokes of one word lie closer than this along the line
LINE_FILL = 0.3  # share of a line's bounding box that its strokes cover


def text_lines(image: np.ndarray) -> list[Box]:
    """Boxes of line-shaped clusters of sharp strokes: words and lines of text, and whatever else
    has their shape (ticks, speckle grains in a row), from the same strokes as ``propose``; a
    horizontal close joins the strokes of a word."""
    return lines_of(_strokes(image)[1])


def lines_of(mask: np.ndarray) -> list[Box]:
    """Line-shaped clusters of a stroke mask (``text_lines`` on a mask built elsewhere)."""
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((1, LINE_CLOSE), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, area in stats[1:count]
            if LINE_MIN_HEIGHT <= h <= LINE_MAX_HEIGHT and area >= LINE_FILL * w * h]
