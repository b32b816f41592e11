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
