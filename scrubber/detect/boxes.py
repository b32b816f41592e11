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


def pad(box: Box, pad_px: int, pad_frac: float, width: int, height: int) -> Box:
    """Grow a box by pad_px + pad_frac * its height on every side, clipped to the image."""
    x0, y0, x1, y1 = box
    grow = pad_px + int(math.ceil(pad_frac * (y1 - y0)))
    return max(0, x0 - grow), max(0, y0 - grow), min(width, x1 + grow), min(height, y1 + grow)


def from_polygon(points: Iterable[Iterable[float]], width: int, height: int) -> Box | None:
    """The axis-aligned box around a detector polygon, clipped; None when it is empty."""
    xs, ys = zip(*((float(x), float(y)) for x, y in points))
    box = (max(0, math.floor(min(xs))), max(0, math.floor(min(ys))),
           min(width, math.ceil(max(xs))), min(height, math.ceil(max(ys))))
    return box if box[2] > box[0] and box[3] > box[1] else None


def merge(boxes: Iterable[Box]) -> list[Box]:
    """Union overlapping or touching boxes until none overlap (fewer, simpler fills)."""
    pending = sorted(set(boxes))
    merged = True
    while merged:
        merged = False
        out: list[Box] = []
        for box in pending:
            for i, other in enumerate(out):
                if box[0] <= other[2] and other[0] <= box[2] and box[1] <= other[3] and other[1] <= box[3]:
                    out[i] = (min(box[0], other[0]), min(box[1], other[1]),
                              max(box[2], other[2]), max(box[3], other[3]))
                    merged = True
                    break
            else:
                out.append(box)
        pending = sorted(out)
    return pending
