"""Black out boxes in the stored values; nothing outside a box changes."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1, half-open, image pixel coordinates


def redact(stored: np.ndarray, boxes: Sequence[Sequence[Box]], fill: tuple[int, ...]) -> np.ndarray:
    """Return a copy of ``stored`` (frames, rows, cols, samples) with each frame's boxes filled."""
    out = stored.copy()
    value = np.asarray(fill, dtype=stored.dtype)
    for index, frame_boxes in enumerate(boxes):
        for x0, y0, x1, y1 in frame_boxes:
            out[index, y0:y1, x0:x1, :] = value
    return out


def box_mask(frame_boxes: Sequence[Box], rows: int, cols: int) -> np.ndarray:
    """Boolean (rows, cols) mask, True inside the boxes of one frame."""
    mask = np.zeros((rows, cols), bool)
    for x0, y0, x1, y1 in frame_boxes:
        mask[y0:y1, x0:x1] = True
    return mask


def covered_pixels(boxes: Sequence[Sequence[Box]], rows: int, cols: int) -> int:
    """Pixels inside the boxes (overlaps once), summed over frames: the audit's ``pixels_in_boxes``.
    One frame's mask at a time, so a long clip costs no more memory than a frame."""
    return sum(int(np.count_nonzero(box_mask(frame_boxes, rows, cols))) for frame_boxes in boxes if frame_boxes)


def box_masks(boxes: Sequence[Sequence[Box]], rows: int, cols: int) -> list[np.ndarray]:
    """One boolean (rows, cols) mask per frame, True inside that frame's boxes."""
    return [box_mask(frame_boxes, rows, cols) for frame_boxes in boxes]
