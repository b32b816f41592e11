"""Boxes: padding over anti-aliased edges and outlines, clipping, merging."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

Box = tuple[int, int, int, int]  # x0, y0, x1, y1: half-open, image pixel coordinates


@dataclass(frozen=True, slots=True)
class Detection:
    """A box found by a detector on one rendering of one frame."""

    box: Box
    detector: str
    rendering: str


def shifted(box: Box, dx: int, dy: int) -> Box:
    """``box`` moved by ``dx``, ``dy``: from a crop's coordinates to its image's, or back."""
    return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy


def overlaps(a: Box, b: Box) -> bool:
    """``a`` and ``b`` share at least one pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def padding(height: int, pad_px: int, pad_frac: float) -> int:
    """Pixels added on every side of text ``height`` pixels high: pad_px + pad_frac * height, rounded up."""
    return pad_px + int(math.ceil(pad_frac * height))


def pad(box: Box, pad_px: int, pad_frac: float, width: int, height: int, text_height: int) -> Box:
    """Grow a box by ``padding`` of ``text_height`` (the height of the text in it, at most the
    box's: ``join_lines``) on every side, clipped to the image."""
    x0, y0, x1, y1 = box
    grow = padding(min(text_height, y1 - y0), pad_px, pad_frac)
    return max(0, x0 - grow), max(0, y0 - grow), min(width, x1 + grow), min(height, y1 + grow)


def from_polygon(points: Iterable[Iterable[float]], width: int, height: int) -> Box | None:
    """The axis-aligned box around a detector polygon, clipped; None when it is empty."""
    xs, ys = zip(*((float(x), float(y)) for x, y in points))
    box = (max(0, math.floor(min(xs))), max(0, math.floor(min(ys))),
           min(width, math.ceil(max(xs))), min(height, math.ceil(max(ys))))
    return box if box[2] > box[0] and box[3] > box[1] else None


def simplify(boxes: Iterable[Box]) -> list[Box]:
    """Drop duplicates and boxes inside another box; overlapping boxes stay separate.

    Merging overlaps into their bounding rectangle would black out the blank corners between two
    text lines, so boxes are only ever removed when another box already covers them.
    """
    unique = sorted(set(boxes), key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    kept: list[Box] = []
    for box in unique:
        if not any(k[0] <= box[0] and k[1] <= box[1] and box[2] <= k[2] and box[3] <= k[3] for k in kept):
            kept.append(box)
    return sorted(kept)


def across(box: Box) -> Box:
    """``box`` with its rows and columns swapped (its own inverse): a vertical line of text as a
    horizontal one, so that joining and padding, which work along rows, work along it."""
    x0, y0, x1, y1 = box
    return y0, x0, y1, x1


def _same_line(a: Box, b: Box, gap_factor: float) -> bool:
    """Boxes on one text line (mostly the same rows) with at most a short gap between them."""
    height = min(a[3] - a[1], b[3] - b[1])
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    gap = max(a[0], b[0]) - min(a[2], b[2])
    return overlap >= 0.5 * height and gap <= gap_factor * max(a[3] - a[1], b[3] - b[1])


def join_lines(boxes: Iterable[Box], gap_factor: float = 1.0) -> list[tuple[Box, int]]:
    """Join words of one line into one box, so the gaps between them (punctuation the detector
    skipped, a narrow glyph) are blanked too (but for their flat ground: scrubber/detect/tighten.py);
    boxes on different lines never join. Each line comes with the height of the tallest box joined
    into it, the height of its text, which its padding follows: the lines of a page turned in the
    scanner slant across each other's rows, so their boxes join into one as tall as the paragraph,
    while its print is no taller than one line."""
    pending = sorted((box, box[3] - box[1]) for box in set(boxes))
    changed = True
    while changed:
        changed = False
        out: list[tuple[Box, int]] = []
        for box, tallest in pending:
            for i, (other, other_tallest) in enumerate(out):
                if _same_line(box, other, gap_factor):
                    out[i] = ((min(box[0], other[0]), min(box[1], other[1]),
                               max(box[2], other[2]), max(box[3], other[3])), max(tallest, other_tallest))
                    changed = True
                    break
            else:
                out.append((box, tallest))
        pending = sorted(out)
    return pending
