"""CRAFT text detection (easyocr's detector) on the pinned, sha256-verified weights.

The model is loaded once per process and kept; nothing is downloaded and nothing is written to
the home folder (we build the network ourselves instead of going through easyocr.Reader).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np

from .boxes import Box, from_polygon
from .models import verified_path

NAME = "craft"
WEIGHTS = "craft_mlt_25k.pth"
MAX_MAGNIFY = 2.0
CANVAS = 2560


def resolve_device(device: str) -> str:
    """'auto' means cuda when torch sees a GPU, else cpu; 'cuda' without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    return device


def default_threads(workers: int) -> int:
    """Torch threads per worker so that workers share the cores instead of fighting for them."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


class CraftDetector:
    """Callable detector: list of uint8 RGB images in, list of boxes per image out."""

    name = NAME

    def __init__(self, device: str = "auto", threads: int = 0, text_threshold: float = 0.5,
                 low_text: float = 0.3, link_threshold: float = 0.3, min_long_side: int = 0) -> None:
        import torch
        from easyocr.craft import CRAFT

        self.device = resolve_device(device)
        if threads > 0:
            torch.set_num_threads(threads)
        path = verified_path(WEIGHTS)
        state = torch.load(path, map_location=self.device, weights_only=True)
        state = {key.removeprefix("module."): value for key, value in state.items()}
        net = CRAFT()
        net.load_state_dict(state)
        self.net = net.to(self.device).eval()
        self.thresholds = (text_threshold, link_threshold, low_text)
        self.min_long_side = min_long_side
        # Images of one shape go through together up to this many pixels: small crops share a
        # call on CPU, whole frames share the GPU.
        self.batch_pixels = 1 << 22 if self.device == "cuda" else 1 << 18
        self._lock = threading.Lock()

    def __call__(self, images: Sequence[np.ndarray], magnify: float | None = None) -> list[list[Box]]:
        """Boxes per image; ``magnify`` overrides the automatic magnification (small crops)."""
        results: list[list[Box]] = []
        batch: list[np.ndarray] = []
        for image in images:
            full = (len(batch) + 1) * image.shape[0] * image.shape[1] > self.batch_pixels
            if batch and (full or image.shape != batch[0].shape):
                results.extend(self._run(batch, magnify))
                batch = []
            batch.append(image)
        if batch:
            results.extend(self._run(batch, magnify))
        return results

    def _run(self, images: Sequence[np.ndarray], magnify: float | None) -> list[list[Box]]:
        import cv2
        import torch
        from easyocr.craft_utils import adjustResultCoordinates, getDetBoxes
        from easyocr.imgproc import normalizeMeanVariance, resize_aspect_ratio

        height, width = images[0].shape[:2]
        mag = magnify or min(MAX_MAGNIFY, max(1.0, self.min_long_side / max(height, width)))
        batch, ratio = [], 1.0
        for image in images:
            resized, target_ratio, _ = resize_aspect_ratio(image, CANVAS, cv2.INTER_LINEAR, mag)
            batch.append(np.transpose(normalizeMeanVariance(resized), (2, 0, 1)))
            ratio = 1.0 / target_ratio
        tensor = torch.from_numpy(np.stack(batch)).to(self.device)
        with self._lock, torch.inference_mode():
            scores, _ = self.net(tensor)
        scores = scores.float().cpu().numpy()
        text_threshold, link_threshold, low_text = self.thresholds
        out = []
        for score in scores:
            boxes, _, _ = getDetBoxes(score[:, :, 0], score[:, :, 1], text_threshold, link_threshold, low_text)
            polys = adjustResultCoordinates(boxes, ratio, ratio)
            found = (from_polygon(poly, width, height) for poly in polys)
            out.append([box for box in found if box is not None])
        return out
