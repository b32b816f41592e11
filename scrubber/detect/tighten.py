"""Boxes tightened to what they hide: the flat ground at their edges and between words stays.

A padded line box blanks the ground around and between its words as well (DB's line boxes reach
past the glyphs, words far apart on a toolbar are joined so that what a detector skipped between
them goes too). Ground holds nothing, and blanking it is over-redaction. So within a box, a pixel
is a mark when it differs from its row's ground by more than the tolerance (in any frame the box is
blanked in, any sample); the box keeps the rows and the runs of columns that hold marks, padded
again as detector boxes are, and leaves the rest. A row's ground is what its two ends (the box's
padding) agree on, so that a row mostly of ink (the top bars of capitals) still shows the ground
between its words; where the ends differ (a panel edge that fades in, a box ending on a separator)
it is the row's median. A misjudged ground only marks more: the row's real ground then stands out
across it. What is left out is ground, or a mark flat along a whole row of the box (a rule, a panel
edge), never a letter or digit: inside a padded box a glyph's row always has ground beside it. A
box of faint text (FAINT) is kept whole, since some of its glyph pixels are within the tolerance.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .boxes import Box, padding

TOLERANCE = 4  # stored values within this of their row's ground are ground (8-bit JPEG noise on flat ground)
END = 3  # columns at each end of a box (its padding: ground) that give each row's ground
FAINT = 4  # marks that stand out by at most this many tolerances, away from (NEAR) any that stand out more, are
# faint text when there are at least as many as the box has rows; such a box is kept whole: through JPEG, parts of
# a label 8 grey levels off its ground sink within the tolerance. Faint marks next to strong ones are the ringing
# and anti-aliasing of strong strokes; a few alone are structure (a separator's faded end, a panel's highlight)
NEAR = np.ones((5, 5), np.uint8)
MOST_VALUES = 1 << 24  # a box over more stored values than this (all its frames) is kept whole: judging it
# would take several times as much memory (a large box over every frame of a long clip)
NARROW = 3  # unmarked columns between runs: fewer than this (after the margins) and the runs stay one box


def _runs(marked: np.ndarray, margin: int) -> list[tuple[int, int]]:
    """Spans of True in ``marked``, each grown by ``margin`` within its bounds, joined when fewer
    than NARROW columns apart."""
    columns = np.flatnonzero(marked)
    breaks = np.flatnonzero(np.diff(columns) > 2 * margin + NARROW) + 1
    return [(max(0, int(run[0]) - margin), min(marked.size, int(run[-1]) + 1 + margin))
            for run in np.split(columns, breaks)]


def _median(values: np.ndarray) -> np.ndarray:
    """The median along the last axis (the upper one of an even count), keeping the axis."""
    middle = values.shape[-1] // 2
    return np.partition(values, middle, axis=-1)[..., middle:middle + 1]


def marks(stored: np.ndarray, frames: Sequence[int], box: Box, tolerance: int, pad_px: int,
          pad_frac: float) -> list[Box]:
    """``box`` tightened to its marks in the ``frames`` of ``stored`` (frames, rows, cols, samples):
    each run of marked columns, and the marked rows, padded again as detector boxes are
    (``boxes.padding`` of the marks' height), within ``box``. A box too narrow or too large to judge
    (MOST_VALUES), in which nothing stands out, or of faint text (FAINT), is kept whole."""
    x0, y0, x1, y1 = box
    if x1 - x0 < 2 * END + NARROW or len(frames) * (y1 - y0) * (x1 - x0) * stored.shape[3] > MOST_VALUES:
        return [box]
    region = stored[list(frames), y0:y1, x0:x1, :]  # (frames, rows, cols, samples) -> (frames x samples, rows, cols)
    wide = np.int16 if stored.itemsize == 1 else np.int32  # room for differences of stored values
    region = np.moveaxis(region, 3, 1).reshape(-1, y1 - y0, x1 - x0).astype(wide)
    left, right = _median(region[:, :, :END]), _median(region[:, :, -END:])
    ground = np.where(np.abs(left - right) <= tolerance, (left + right) // 2, _median(region))
    deviation = np.abs(region - ground).max(axis=0)
    marked = deviation > tolerance
    rows = np.flatnonzero(marked.any(axis=1))
    if not rows.size:
        return [box]
    strong = (deviation > FAINT * tolerance).astype(np.uint8)
    if np.count_nonzero(marked & (cv2.dilate(strong, NEAR) == 0)) >= y1 - y0:
        return [box]
    margin = padding(int(rows[-1]) + 1 - int(rows[0]), pad_px, pad_frac)
    runs = _runs(marked.any(axis=0), margin)
    top, bottom = y0 + max(0, int(rows[0]) - margin), y0 + min(y1 - y0, int(rows[-1]) + 1 + margin)
    return [(x0 + a, top, x0 + b, bottom) for a, b in runs]


def tighten(boxes: Sequence[Sequence[Box]], stored: np.ndarray, tolerance: int, pad_px: int,
            pad_frac: float) -> list[list[Box]]:
    """Per-frame ``boxes`` each tightened (``marks``) over every frame it is blanked in."""
    frames_of: dict[Box, list[int]] = {}
    for index, frame in enumerate(boxes):
        for box in frame:
            frames_of.setdefault(box, []).append(index)
    parts = {box: marks(stored, frames, box, tolerance, pad_px, pad_frac) for box, frames in frames_of.items()}
    return [[part for box in frame for part in parts[box]] for frame in boxes]
