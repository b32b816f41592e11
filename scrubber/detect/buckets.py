"""Many small crops through the detector at little cost per crop: each crop is magnified and
padded (black, bottom and right, as the detector pads a lone image) to one of a few bucket
shapes, and crops of one bucket go through together.

A CNN on CPU pays a fixed price per call and plans its kernels per input shape, so fifty crops
of fifty shapes cost many times what the same pixels cost in a few shapes. Crops are never packed
side by side: a lone character next to a neighbouring crop (or any fill) scores differently than
at an image edge, and lone characters are what the closer look is for.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from .boxes import Box

SIZES = (64, 96, 128, 192, 256)
LARGE_STEP = 32  # beyond the table, sides are multiples of this: the networks' stride; a coarser step
# padded a 400x528 region look to 512x640 (55 % more pixels, DB about 1.4x slower) for fewer shapes


def bucket(size: int) -> int:
    """The smallest bucket side that holds ``size`` pixels."""
    return next((s for s in SIZES if s >= size), int(math.ceil(size / LARGE_STEP) * LARGE_STEP))


def look(detector: Callable[..., list[list[Box]]], crops: Sequence[np.ndarray],
         zooms: Sequence[float], **kwargs) -> list[list[Box]]:
    """Boxes per crop, in the crop's own pixel coordinates (``kwargs`` go to the detector)."""
    padded: list[np.ndarray] = []
    for crop, zoom in zip(crops, zooms):
        height, width = crop.shape[:2]
        scaled = cv2.resize(crop, (max(1, round(width * zoom)), max(1, round(height * zoom))),
                            interpolation=cv2.INTER_LINEAR)
        canvas = np.zeros((bucket(scaled.shape[0]), bucket(scaled.shape[1]), 3), np.uint8)
        canvas[:scaled.shape[0], :scaled.shape[1]] = scaled
        padded.append(canvas)
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, canvas in enumerate(padded):
        groups.setdefault(canvas.shape, []).append(index)
    found: dict[int, list[Box]] = {}
    for indices in groups.values():
        found.update(zip(indices, detector([padded[i] for i in indices], magnify=1.0, **kwargs)))
    out: list[list[Box]] = []
    for index, (crop, zoom) in enumerate(zip(crops, zooms)):
        height, width = crop.shape[:2]
        boxes = []
        for x0, y0, x1, y1 in found[index]:
            box = (max(0, math.floor(x0 / zoom)), max(0, math.floor(y0 / zoom)),
                   min(width, math.ceil(x1 / zoom)), min(height, math.ceil(y1 / zoom)))
            if box[2] > box[0] and box[3] > box[1]:
                boxes.append(box)
        out.append(boxes)
    return out
