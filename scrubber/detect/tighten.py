"""Boxes tightened to what they hide: the flat ground at their edges and between words stays.

A padded line box blanks the ground around and between its words as well (DB's line boxes reach
past the glyphs, words far apart on a toolbar are joined so that what a detector skipped between
them goes too). Ground holds nothing, and blanking it is over-redaction. So within a box, a pixel
is a mark when it differs from its row's ground by more than the tolerance (in any frame the box is
blanked in, any sample); the box keeps the rows and the runs of columns that hold marks, padded
again as detector boxes are, and leaves the rest. A row's ground is what its two ends (the box's
padding) agree on, so that a row mostly of ink (the top bars of capitals) still shows the ground
between its words; where the ends differ and the row's median lies halfway between them, a ramp
from one to the other (paper lit unevenly in the scanner); else (a panel edge that fades in, a box
ending on a separator) the row's median. A misjudged ground only marks more: the row's real ground
then stands out across it. What is left out is ground, or a mark flat along a whole row of the box
(a rule, a panel edge), or a thin rule that reaches two sides of the box turned (a table's line on
a page turned in the scanner), never a letter or digit: inside a padded box a glyph's row always
has ground beside it, and no glyph reaches the box's edges. A box of faint text (FAINT) is kept
whole, since some of its glyph pixels are within the tolerance.

Scanned paper is grainy: in a single image there the tolerance follows the grain (GRAIN_K times
its deviation, so that the grain marks nothing) and a weak mark with no other beside it is a grain.
And a box's rows are also judged per strip of STRIP columns: a line of a turned page climbs across
the rows of its box, and blanking it strip by strip leaves the paper above and below it.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import cv2
import numpy as np

from ..lru import Lru
from .boxes import Box, padding, shifted

TOLERANCE = 4  # stored values within this of their row's ground are ground (8-bit JPEG noise on flat ground)
END = 3  # columns at each end of a box (its padding: ground) that give each row's ground
FAINT = 4  # marks that stand out by at most this many tolerances, away from (NEAR) any that stand out more, are
# faint text when there are at least as many as the box has rows; such a box is kept whole: through JPEG, parts of
# a label 8 grey levels off its ground sink within the tolerance. Faint marks next to strong ones are the ringing
# and anti-aliasing of strong strokes; a few alone are structure (a separator's faded end, a panel's highlight)
NEAR = np.ones((5, 5), np.uint8)
MOST_VALUES = 1 << 24  # a box over more stored values than this (all its frames) is kept whole: judging it
# would take several times as much memory (a large box over every frame of a long clip)
GRAIN_STEP = 1.0  # grainy ground (scanned paper): its grain, from pixel to pixel, deviates this much (JPEG q85 on
# a flat banner: under 0.5; paper scanned with grain 3: 1.2 and more; through JPEG q50 it is smoothed to 0.3-0.5 and
# counts as flat) ...
GRAIN_K = 3  # ... and there a mark stands out by more than this many times the ground's deviation ...
GRAIN_MOST = 16  # ... when that is at most this (noisier ground, such as speckle, is marked all over as it was);
# and a mark by less than twice that with no other mark beside it is a grain, not part of a stroke
NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.float32)
RULE_RUN = 13  # a rule: marks in runs at least this long (a line turned up to 4.4 degrees off the box's axis; odd,
# so that the opening that finds them stays centred) ...
RULE_THICK = 3  # ... at most this thick, that reach the box's edges on two sides (no glyph of a padded box does)
EDGE = 2  # rows at the top and bottom of a box within which a run of marks reaches that edge (END: columns at its ends)
NARROW = 3  # unmarked columns between runs: fewer than this (after the margins) and the runs stay one box
STRIP = 32  # columns: a box's rows are also judged per strip this wide, so that a turned line's box follows its slope
SAVING = 0.8  # ... and the strips are kept where they blank at most this share of what the box's rows would
REMEMBERED = 1024  # boxes whose tightening is remembered by the pixels judged (``_remembered``) ...
REMEMBERED_VALUES = 1 << 20  # ... when they hold at most this many stored values (all their frames)


def _runs(marked: np.ndarray, margin: int) -> list[tuple[int, int]]:
    """Spans of True in ``marked``, each grown by ``margin`` within its bounds, joined when fewer
    than NARROW columns apart."""
    columns = np.flatnonzero(marked)
    breaks = np.flatnonzero(np.diff(columns) > 2 * margin + NARROW) + 1
    return [(max(0, int(run[0]) - margin), min(marked.size, int(run[-1]) + 1 + margin))
            for run in np.split(columns, breaks)]


def _rules(marked: np.ndarray, rims: bool) -> np.ndarray:
    """The marks of rules that cross the box: a table's lines turned with the scanned page, which
    a row's ground (the box's ends) leaves out only when they run along the rows. A run of marks
    RULE_RUN long and at most RULE_THICK thick that reaches the box's edges on two sides is one:
    it comes in at one side and leaves by another (across a cell's box, out through its bottom, or
    down its end). A glyph never is: a padded box is wider and taller than any of its glyphs, which
    keep clear of its edges. With ``rims`` (a single image), the marks touching a rule go with it:
    its anti-aliased rim, and the short end of its last step at the box's edge. Not over a clip's
    frames: there rows of a box whose ends take in the moving image are marked end to end, and the
    strokes of a label beside them went with them (the sweep's "static" labels: one was cut)."""
    height, width = marked.shape
    rules = np.zeros(marked.shape, np.uint8)
    sides = [marked[:, :END].any(), marked[:, -END:].any(), marked[:EDGE].any(), marked[-EDGE:].any()]
    if sum(sides) < 2:
        return rules.astype(bool)  # no run of marks can reach two sides: most boxes
    for kernel, across in ((np.ones((1, RULE_RUN), np.uint8), 0), (np.ones((RULE_RUN, 1), np.uint8), 1)):
        runs = cv2.morphologyEx(marked.astype(np.uint8), cv2.MORPH_OPEN, kernel)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
        for label in range(1, count):
            x, y, w, h = (int(v) for v in stats[label, :4])
            if (x < END) + (x + w > width - END) + (y < EDGE) + (y + h > height - EDGE) < 2:
                continue
            line = labels == label
            if line.sum(axis=across).max() <= RULE_THICK:
                rules[line] = 1
    return marked & cv2.dilate(rules, np.ones((3, 3), np.uint8)).astype(bool) if rims else rules.astype(bool)


def _strips(marked: np.ndarray, runs: list[tuple[int, int]], margin: int) -> list[Box]:
    """Per STRIP columns of each run, the runs of rows that hold marks within ``margin`` columns of
    the strip, each grown by ``margin`` (rows fewer than NARROW apart after that stay one); strips
    side by side with the same rows are one box. Every mark keeps ``margin`` on every side."""
    height, width = marked.shape
    out: list[Box] = []
    for start, end in runs:
        for left in range(start, end, STRIP):
            right = min(end, left + STRIP)
            rows = marked[:, max(0, left - margin):min(width, right + margin)].any(axis=1)
            for top, bottom in _runs(rows, margin) if rows.any() else ():
                if out and out[-1][2] == left and out[-1][1] == top and out[-1][3] == bottom:
                    out[-1] = (out[-1][0], top, right, bottom)
                else:
                    out.append((left, top, right, bottom))
    return out


def _area(boxes: list[Box]) -> int:
    return sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes)


def _spread(values: np.ndarray) -> float:
    """1.4826 times the median absolute value (the standard deviation of Gaussian noise; a minority
    of strokes does not move it), that median taken within its unit step: stored values are whole
    numbers."""
    counts = np.bincount(np.minimum(np.abs(values), 255).astype(np.int64).ravel())
    half = values.size / 2
    step = int(np.searchsorted(np.cumsum(counts), half))
    below = int(counts[:step].sum())
    return float(1.4826 * (max(0.0, step - 0.5) + (half - below) / counts[step] * (1.0 if step else 0.5)))


def _ends(values: np.ndarray) -> np.ndarray:
    """The END columns at each end of a box (its padding: ground), side by side."""
    return np.concatenate([values[:, :, :END], values[:, :, -END:]], axis=2)


def _grain(region: np.ndarray) -> float:
    """How much the ground's pixels deviate (their standard deviation), judged from pixels one above
    the other in the box's ends; 0 where it has a single row."""
    if region.shape[1] < 2:
        return 0.0
    return _spread(np.diff(_ends(region), axis=1)) / np.sqrt(2)


def _within_grain(deviation: float, tolerance: int) -> int:
    """GRAIN_K times ``deviation`` where that is more than ``tolerance`` and at most GRAIN_MOST
    (noisier ground, such as speckle, is judged as it was); else ``tolerance``."""
    allowed = int(np.ceil(GRAIN_K * deviation))
    return allowed if tolerance < allowed <= GRAIN_MOST else tolerance


def _ends_tolerance(grain: float, tolerance: int) -> int:
    """How far the grounds at a row's two ends may differ and still be one ground: ``tolerance``,
    or on grainy ground (GRAIN_STEP) GRAIN_K times its deviation where that is more, up to
    GRAIN_MOST: each end is the median of END grains, and on paper of grain 3 they often lie more
    than 4 apart; such a row, taken at its median, sat 14 levels below the paper where 17 px print
    filled it, and its paper passed for faint text."""
    return _within_grain(grain, tolerance) if tolerance > 0 and grain >= GRAIN_STEP else tolerance


def _grain_tolerance(grain: float, offsets: np.ndarray, tolerance: int) -> int:
    """``tolerance``; or on grainy ground (``grain``, its deviation, GRAIN_STEP or more) GRAIN_K
    times the deviation of the pixels from their rows' ground, where that is more, up to GRAIN_MOST.
    Where print fills most of the box (two lines of a page's running text), that deviation is the
    print's: it is then taken at the box's ends, its padding, alone."""
    if tolerance <= 0 or grain < GRAIN_STEP:  # exact (palette indices), or flat ground
        return tolerance
    deviation = _spread(offsets)
    if np.ceil(GRAIN_K * deviation) > GRAIN_MOST:
        deviation = _spread(_ends(offsets))
    return _within_grain(deviation, tolerance)


def _offsets(region: np.ndarray, left: np.ndarray, right: np.ndarray, tolerance: int,
             ends_tolerance: int) -> np.ndarray:
    """Each pixel's difference from its row's ground: what the row's ends agree on (within
    ``ends_tolerance``); where they differ, and the row's median lies halfway between them, or on
    grainy ground (``ends_tolerance`` above ``tolerance``) they differ by at most twice that, a
    ramp from one to the other (paper lit unevenly in the scanner: a row of print can hold more ink
    than paper, so its median is no ground); else the row's median (a panel edge that fades in, a
    box ending on a separator). Only the ramps take a value per pixel."""
    median = _median(region)
    middle = (left + right) // 2
    apart = np.abs(left - right)
    agree = apart <= ends_tolerance
    uneven = apart <= 2 * ends_tolerance if ends_tolerance > tolerance else False
    sloped = ~agree & ((np.abs(median - middle) <= tolerance) | uneven)
    offsets = region - np.where(agree, middle, median)
    if sloped.any():
        layer, row = np.nonzero(sloped[..., 0])
        start, rise = left[layer, row], (right - left)[layer, row]
        ramp = (start + rise * np.linspace(0, 1, region.shape[-1])[None, :]).astype(region.dtype)
        offsets[layer, row] = region[layer, row] - ramp
    return offsets


def _median(values: np.ndarray) -> np.ndarray:
    """The median along the last axis (the upper one of an even count), keeping the axis."""
    middle = values.shape[-1] // 2
    return np.partition(values, middle, axis=-1)[..., middle:middle + 1]


def marks(stored: np.ndarray, frames: Sequence[int], box: Box, tolerance: int, pad_px: int,
          pad_frac: float) -> list[Box]:
    """``box`` tightened to its marks in the ``frames`` of ``stored`` (frames, rows, cols, samples):
    each run of marked columns, and the marked rows, padded again as detector boxes are
    (``boxes.padding`` of the marks' height), within ``box``; or, where that blanks less (SAVING),
    the rows of each strip of such a run (``_strips``). A box too narrow or too large to judge
    (MOST_VALUES), in which nothing stands out, or of faint text (FAINT), is kept whole."""
    x0, y0, x1, y1 = box
    if len(frames) * (y1 - y0) * (x1 - x0) * stored.shape[3] > MOST_VALUES:
        return [box]
    return _judged(stored[list(frames), y0:y1, x0:x1, :], box, tolerance, pad_px, pad_frac)


def _judged(region: np.ndarray, box: Box, tolerance: int, pad_px: int, pad_frac: float) -> list[Box]:
    """``marks`` of ``box`` in ``region``, its stored values (frames, rows, cols, samples)."""
    x0, y0, x1, y1 = box
    original = tolerance
    if x1 - x0 < 2 * END + NARROW:
        return [box]
    frames = region.shape[0]
    wide = np.int16 if region.itemsize == 1 else np.int32  # room for differences of stored values
    region = np.moveaxis(region, 3, 1).reshape(-1, y1 - y0, x1 - x0).astype(wide)  # (frames x samples, rows, cols)
    left, right = _median(region[:, :, :END]), _median(region[:, :, -END:])
    # a scanned page is one image; over a clip's frames, the box's ends take in the moving image (speckle
    # beside a faint banner passes for grain) and mark rows end to end beside a label
    single = frames == 1
    grain = _grain(region) if single else 0.0
    offsets = _offsets(region, left, right, tolerance, _ends_tolerance(grain, tolerance))
    if single:
        tolerance = _grain_tolerance(grain, offsets, tolerance)
    deviation = np.abs(offsets).max(axis=0)
    marked = deviation > tolerance
    grainy = tolerance > original
    if grainy:
        beside = cv2.filter2D(marked.astype(np.float32), -1, NEIGHBOURS, borderType=cv2.BORDER_CONSTANT)
        marked &= (beside > 0) | (deviation > 2 * tolerance)
    marked &= ~_rules(marked, rims=single)
    rows = np.flatnonzero(marked.any(axis=1))
    if not rows.size:
        return [box]
    strong = (deviation > FAINT * tolerance).astype(np.uint8)
    if np.count_nonzero(marked & (cv2.dilate(strong, NEAR) == 0)) >= y1 - y0:
        return [box]
    margin = padding(int(rows[-1]) + 1 - int(rows[0]), pad_px, pad_frac)
    runs = _runs(marked.any(axis=0), margin)
    top, bottom = max(0, int(rows[0]) - margin), min(y1 - y0, int(rows[-1]) + 1 + margin)
    whole = [(a, top, b, bottom) for a, b in runs]
    strips = _strips(marked, runs, margin)
    kept = strips if _area(strips) <= SAVING * _area(whole) else whole
    return [shifted(part, x0, y0) for part in kept]


def tighten(boxes: Sequence[Sequence[Box]], stored: np.ndarray, tolerance: int, pad_px: int,
            pad_frac: float, apart: bool = False) -> list[list[Box]]:
    """Per-frame ``boxes`` each tightened (``marks``) over every frame it is blanked in; ``apart``
    (pages), in its own frame alone: the letterhead at the same place on every page of a document
    is one image's print on each, not one overlay of a clip."""
    if apart:
        return [[part for box in frame for part in _remembered(stored, [index], box, tolerance, pad_px, pad_frac)]
                for index, frame in enumerate(boxes)]
    frames_of: dict[Box, list[int]] = {}
    for index, frame in enumerate(boxes):
        for box in frame:
            frames_of.setdefault(box, []).append(index)
    parts = {box: _remembered(stored, frames, box, tolerance, pad_px, pad_frac) for box, frames in frames_of.items()}
    return [[part for box in frame for part in parts[box]] for frame in boxes]


_memory: Lru[list[Box]] = Lru(REMEMBERED)


def _remembered(stored: np.ndarray, frames: Sequence[int], box: Box, tolerance: int, pad_px: int,
                pad_frac: float) -> list[Box]:
    """``marks``, remembered by the stored values it judges (their digest, shape and type) and its
    arguments: the files of a series blank their labels' boxes over the same pixels file after
    file (a color3d series: 840 boxes tightened in 54 later files, 38 of them distinct; 6 ms a
    file). The least recently used of REMEMBERED are forgotten first."""
    x0, y0, x1, y1 = box
    if len(frames) * (y1 - y0) * (x1 - x0) * stored.shape[3] > REMEMBERED_VALUES:
        return marks(stored, frames, box, tolerance, pad_px, pad_frac)
    region = np.ascontiguousarray(stored[list(frames), y0:y1, x0:x1])
    key = (box, tolerance, pad_px, pad_frac, region.shape, region.dtype.str,
           hashlib.blake2b(region.data, digest_size=16).digest())
    known = _memory.get(key)
    if known is not None:
        return list(known)
    parts = _judged(region, box, tolerance, pad_px, pad_frac)
    _memory.put(key, list(parts))
    return parts
