"""Find text in the renderings of every frame: OCR on each view, then a closer look where the
proposer sees glyph-like marks that OCR left uncovered (CRAFT skips lone characters).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from ..policy import Policy
from .boxes import Box, Detection
from .proposer import propose
from .registry import Detector
from .renderings import View, views

ZOOM = 3.0  # magnification for the closer look
COVERED = 0.5  # a proposal is covered when this share of it lies in OCR boxes


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def _run_once(detector: Detector, images: Sequence[np.ndarray], **kwargs) -> list[list[Box]]:
    """Run the detector on each distinct image once (static clips repeat the same frames)."""
    keys = [_digest(image) for image in images]
    unique: dict[bytes, int] = {}
    for index, key in enumerate(keys):
        unique.setdefault(key, index)
    results = detector([images[i] for i in unique.values()], **kwargs) if unique else []
    by_key = dict(zip(unique, results))
    return [by_key[key] for key in keys]


def _covered(box: Box, boxes: Sequence[Box]) -> bool:
    x0, y0, x1, y1 = box
    inside = np.zeros((y1 - y0, x1 - x0), bool)
    for a0, b0, a1, b1 in boxes:
        inside[max(0, b0 - y0):max(0, b1 - y0), max(0, a0 - x0):max(0, a1 - x0)] = True
    return inside.mean() >= COVERED


def _crop(image: np.ndarray, box: Box) -> tuple[np.ndarray, int, int]:
    x0, y0, x1, y1 = box
    margin = max(6, y1 - y0)
    top, left = max(0, y0 - margin), max(0, x0 - margin)
    crop = image[top:min(image.shape[0], y1 + margin), left:min(image.shape[1], x1 + margin)]
    return np.ascontiguousarray(crop), left, top


def find_text(full: np.ndarray, window: np.ndarray | None, policy: Policy,
              detector: Detector) -> list[list[Detection]]:
    """Detections per frame, from every rendering the policy asks for plus the closer look."""
    todo: list[View] = views(full, window, policy.renderings, policy.extra_rendering_frames)
    found: list[list[Detection]] = [[] for _ in range(full.shape[0])]
    for view, boxes in zip(todo, _run_once(detector, [v.image for v in todo])):
        found[view.frame].extend(Detection(box, "craft", view.rendering) for box in boxes)
    crops, origins = [], []
    for frame in range(full.shape[0]):
        ocr_boxes = [d.box for d in found[frame]]
        for proposal in propose(full[frame]):
            if not _covered(proposal, ocr_boxes):
                crop, left, top = _crop(full[frame], proposal)
                crops.append(crop)
                origins.append((frame, left, top))
    for (frame, left, top), boxes in zip(origins, _run_once(detector, crops, magnify=ZOOM)):
        found[frame].extend(Detection((x0 + left, y0 + top, x1 + left, y1 + top), "craft-zoom", "full")
                            for x0, y0, x1, y1 in boxes)
    return found
