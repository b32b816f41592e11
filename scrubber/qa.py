"""Before/after pictures for curators: frame 0 (or a strip of frames for a clip, every page of
pages), boxes outlined."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .detect.boxes import Box
from .detect.renderings import key_frames
from .write import atomic_write_bytes

OUTLINE = (255, 40, 40)
STRIP_FRAMES = 4
MAX_WIDTH = 1600


def _outlined(image: np.ndarray, boxes: list[Box]) -> np.ndarray:
    out = np.ascontiguousarray(image.copy())
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), OUTLINE, 1)
    return out


def picture(before: np.ndarray, after: np.ndarray, boxes: list[list[Box]],
            shown: Sequence[int] | None = None) -> np.ndarray:
    """RGB picture: one row per shown frame (``shown``; by default STRIP_FRAMES key frames), before
    on the left and after on the right."""
    rows = []
    gap = np.full((before.shape[1], 8, 3), 255, np.uint8)
    for index in key_frames(before.shape[0], STRIP_FRAMES) if shown is None else shown:
        rows.append(np.hstack([_outlined(before[index], boxes[index]), gap,
                               _outlined(after[index], boxes[index])]))
        rows.append(np.full((8, rows[-1].shape[1], 3), 255, np.uint8))
    image = np.vstack(rows[:-1])
    if image.shape[1] > MAX_WIDTH:
        scale = MAX_WIDTH / image.shape[1]
        image = cv2.resize(image, (MAX_WIDTH, max(1, int(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    return image


def write_png(path: Path, before: np.ndarray, after: np.ndarray, boxes: list[list[Box]],
              pages: bool = False) -> None:
    """Write the QA picture atomically as PNG at ``path``. Of pages, every page is shown, as each
    holds other text: ``path`` shows the first STRIP_FRAMES, and each further STRIP_FRAMES are in
    a picture beside it (NAME.pages-5-8.png; NAME.pages-9.png for a last page alone)."""
    count = before.shape[0] if pages else 1
    for first in range(0, count, STRIP_FRAMES):
        shown = range(first, min(count, first + STRIP_FRAMES)) if pages else None
        ok, data = cv2.imencode(".png", cv2.cvtColor(picture(before, after, boxes, shown), cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError("PNG encoding failed")
        atomic_write_bytes(path if shown is None or first == 0 else _beside(path, shown), data.tobytes())


def _beside(path: Path, shown: range) -> Path:
    """Where the picture of pages ``shown`` (after the first STRIP_FRAMES) goes beside ``path``."""
    span = f"{shown[0] + 1}" if len(shown) == 1 else f"{shown[0] + 1}-{shown[-1] + 1}"
    return path.with_name(f"{path.stem}.pages-{span}.png")
