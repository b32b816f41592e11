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


def covered_pixels(boxes: Sequence[Sequence[Box]], rows: int, cols: int) -> int:
    """Pixels inside the boxes (overlaps once), summed over frames: what the audit calls blanked."""
    total, mask = 0, np.zeros((rows, cols), bool)
    for frame_boxes in boxes:
        if not frame_boxes:
            continue
        mask[:] = False
        for x0, y0, x1, y1 in frame_boxes:
            mask[y0:y1, x0:x1] = True
        total += int(np.count_nonzero(mask))
    return total


def box_masks(boxes: Sequence[Sequence[Box]], rows: int, cols: int) -> list[np.ndarray]:
    """One boolean (rows, cols) mask per frame, True inside that frame's boxes."""
    masks = []
    for frame_boxes in boxes:
        mask = np.zeros((rows, cols), bool)
        for x0, y0, x1, y1 in frame_boxes:
            mask[y0:y1, x0:x1] = True
        masks.append(mask)
    return masks
