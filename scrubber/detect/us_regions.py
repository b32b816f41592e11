"""Ultrasound region calibration (PS3.3 C.8.5.5, Sequence of Ultrasound Regions).

The calibrated regions say where the scanner drew its image (2D, M-mode, spectral Doppler,
waveforms): the moving image of a clip, and the complement where burned-in text usually sits.
Regions are read from the header only; a region that does not fit the image is ignored, never
trusted, so a bad calibration cannot hide text.
"""
from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from .boxes import Box

# Region Spatial Format values of regions that hold image data: 1 2D, 2 M-mode, 3 spectral,
# 4 waveform. 0 (none) and 5 (graphics) hold no image, and may hold text.
IMAGE_FORMATS = frozenset({1, 2, 3, 4})


@dataclass(frozen=True, slots=True)
class Regions:
    """Image regions of one file as half-open boxes, and how many regions were unusable."""

    boxes: tuple[Box, ...]
    ignored: int


def _int(item: Dataset, keyword: str) -> int | None:
    try:
        value = item.get(keyword)
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def image_regions(ds: Dataset) -> Regions:
    """The image regions of ``ds`` that lie inside Rows x Columns (a corner one pixel past the
    edge is clipped; anything further out makes the region unusable)."""
    try:
        items = list(ds.get("SequenceOfUltrasoundRegions") or [])
        rows, columns = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError):
        return Regions((), 0)
    boxes, ignored = [], 0
    for item in items:
        spatial = _int(item, "RegionSpatialFormat")
        corners = [_int(item, k) for k in ("RegionLocationMinX0", "RegionLocationMinY0",
                                            "RegionLocationMaxX1", "RegionLocationMaxY1")]
        if spatial not in IMAGE_FORMATS:
            continue
        if any(c is None for c in corners):
            ignored += 1
            continue
        x0, y0, x1, y1 = corners
        if not (0 <= x0 <= x1 <= columns and 0 <= y0 <= y1 <= rows):
            ignored += 1
            continue
        # The Max values are inclusive; one past the last pixel is a common off-by-one.
        boxes.append((x0, y0, min(x1 + 1, columns), min(y1 + 1, rows)))
    return Regions(tuple(sorted(set(boxes))), ignored)


def outside(boxes: tuple[Box, ...], width: int, height: int) -> list[Box]:
    """The part of the image outside ``boxes``, as few rectangles (bands between box edges)."""
    if not boxes:
        return [(0, 0, width, height)]
    edges = sorted({0, height, *(b[1] for b in boxes), *(b[3] for b in boxes)})
    out: list[Box] = []
    for top, bottom in zip(edges, edges[1:]):
        spans = sorted((b[0], b[2]) for b in boxes if b[1] <= top and bottom <= b[3])
        x = 0
        free = []
        for a, b in spans:
            if a > x:
                free.append((x, a))
            x = max(x, b)
        if x < width:
            free.append((x, width))
        for a, b in free:
            previous = next((i for i, o in enumerate(out) if o[0] == a and o[2] == b and o[3] == top), None)
            if previous is None:
                out.append((a, top, b, bottom))
            else:
                out[previous] = (a, out[previous][1], b, bottom)
    return out
