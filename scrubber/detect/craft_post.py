"""CRAFT pre- and post-processing in numpy and OpenCV, shared by the torch and the ONNX backend.

Both backends turn images into the same input array here and turn score maps into boxes here, so
equal score maps give equal boxes whichever backend computed them. Nothing here imports torch.

Ported from easyocr 1.7.2 (Apache-2.0; ``imgproc.py`` and ``craft_utils.py``, which come from
NAVER's CRAFT-pytorch, Copyright (c) 2019-present NAVER Corp., MIT License):
``resize_aspect_ratio``, ``normalizeMeanVariance``, ``getDetBoxes_core`` (without the polygon and
character-count options, which scrubber does not use) and ``adjustResultCoordinates``. Two changes,
neither of which changes a box: the box search works in each component's window instead of the
whole map (the same points in the same order reach ``cv2.minAreaRect``), and the dilation size is
computed in Python integers (easyocr's int32 product overflows on a component of more than about
1.6 million pixels and then fails). tests/test_onnx.py compares with easyocr's own functions.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .blobs import components_with_stats
from .boxes import Box, from_polygon

NAME = "craft"
MAX_MAGNIFY = 2.0  # automatic magnification of small images stops here
CANVAS = 2560  # longest side the network sees (easyocr's canvas_size)

_MEAN = np.array([0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0], dtype=np.float32)
_STD = np.array([0.229 * 255.0, 0.224 * 255.0, 0.225 * 255.0], dtype=np.float32)


def auto_magnify(shape: tuple[int, ...], min_long_side: int) -> float:
    """How much an image of ``shape`` is magnified before detection: up to ``min_long_side`` on
    its long side, at most MAX_MAGNIFY, never shrunk (every detector and crop uses this rule)."""
    return float(min(MAX_MAGNIFY, max(1.0, min_long_side / max(shape[:2]))))


def resize_aspect_ratio(image: np.ndarray, square_size: int, interpolation: int,
                        mag_ratio: float = 1.0) -> tuple[np.ndarray, float]:
    """Magnify by ``mag_ratio`` (long side at most ``square_size``), paste on a float32 canvas whose
    sides are multiples of 32; returns the canvas and the scale applied."""
    height, width, channels = image.shape
    target_size = min(mag_ratio * max(height, width), square_size)
    ratio = target_size / max(height, width)
    target_h, target_w = int(height * ratio), int(width * ratio)
    proc = cv2.resize(image, (target_w, target_h), interpolation=interpolation)
    canvas = np.zeros((target_h + (-target_h) % 32, target_w + (-target_w) % 32, channels), dtype=np.float32)
    canvas[0:target_h, 0:target_w, :] = proc
    return canvas, ratio


def normalize_mean_variance(image: np.ndarray) -> np.ndarray:
    """ImageNet mean/std normalisation of an RGB image (0-255), as float32."""
    out = image.astype(np.float32)  # always a copy
    out -= _MEAN
    out /= _STD
    return out


def prepare(images: Sequence[np.ndarray], magnify: float) -> tuple[np.ndarray, float]:
    """Images of one shape (uint8 RGB) -> network input (N, 3, H, W) float32 and the factor that
    maps score-map coordinates x2 back to image coordinates."""
    batch, ratio = [], 1.0
    for image in images:
        resized, target_ratio = resize_aspect_ratio(image, CANVAS, cv2.INTER_LINEAR, magnify)
        batch.append(np.transpose(normalize_mean_variance(resized), (2, 0, 1)))
        ratio = 1.0 / target_ratio
    return np.ascontiguousarray(np.stack(batch)), ratio


def det_boxes(textmap: np.ndarray, linkmap: np.ndarray, text_threshold: float, link_threshold: float,
              low_text: float) -> list[np.ndarray]:
    """Rotated boxes (4 x 2 float32 corners, clockwise from top left) in score-map coordinates;
    easyocr's ``getDetBoxes_core`` without the character count."""
    img_h, img_w = textmap.shape
    _, text_score = cv2.threshold(textmap, low_text, 1, 0)
    _, link_score = cv2.threshold(linkmap, link_threshold, 1, 0)
    combined = np.clip(text_score + link_score, 0, 1)
    count, labels, stats = components_with_stats(combined.astype(np.uint8), 4)
    link_only = np.logical_and(link_score == 1, text_score == 0)
    boxes = []
    for k in range(1, count):
        size = int(stats[k, cv2.CC_STAT_AREA])
        if size < 10:
            continue
        x, y = int(stats[k, cv2.CC_STAT_LEFT]), int(stats[k, cv2.CC_STAT_TOP])
        w, h = int(stats[k, cv2.CC_STAT_WIDTH]), int(stats[k, cv2.CC_STAT_HEIGHT])
        if np.max(textmap[y:y + h, x:x + w][labels[y:y + h, x:x + w] == k]) < text_threshold:
            continue
        niter = int(math.sqrt(size * min(w, h) / (w * h)) * 2)
        sx, ex = max(0, x - niter), min(img_w, x + w + niter + 1)
        sy, ey = max(0, y - niter), min(img_h, y + h + niter + 1)
        segmap = np.zeros((ey - sy, ex - sx), dtype=np.uint8)
        segmap[labels[sy:ey, sx:ex] == k] = 255
        segmap[link_only[sy:ey, sx:ex]] = 0  # remove link area
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (1 + niter, 1 + niter))
        segmap = cv2.dilate(segmap, kernel)

        rows, cols = np.nonzero(segmap)
        points = np.stack([cols + sx, rows + sy], axis=1)  # (x, y), row-major order as in easyocr
        box = cv2.boxPoints(cv2.minAreaRect(points))

        # align diamond shape
        bw, bh = np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[1] - box[2])
        if abs(1 - max(bw, bh) / (min(bw, bh) + 1e-5)) <= 0.1:
            left, right = min(points[:, 0]), max(points[:, 0])
            top, bottom = min(points[:, 1]), max(points[:, 1])
            box = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float32)

        # clockwise order from the top-left corner
        start = box.sum(axis=1).argmin()
        boxes.append(np.array(np.roll(box, 4 - start, 0)))
    return boxes


def adjust_coordinates(boxes: list[np.ndarray], ratio: float, ratio_net: int = 2) -> np.ndarray | list:
    """Score-map boxes -> image coordinates (easyocr's ``adjustResultCoordinates``)."""
    if len(boxes) > 0:
        boxes = np.array(boxes)
        boxes *= (ratio * ratio_net, ratio * ratio_net)
    return boxes


def boxes_from_scores(score: np.ndarray, ratio: float, width: int, height: int,
                      thresholds: tuple[float, float, float]) -> list[Box]:
    """One (H/2, W/2, 2) score map (region, affinity) -> axis-aligned boxes in the image."""
    text_threshold, link_threshold, low_text = thresholds
    polys = adjust_coordinates(det_boxes(score[:, :, 0], score[:, :, 1], text_threshold, link_threshold,
                                         low_text), ratio)
    found = (from_polygon(poly, width, height) for poly in polys)
    return [box for box in found if box is not None]


class CraftBase:
    """Batching, pre- and post-processing around a backend's ``scores`` (the network alone).

    Callable: list of uint8 RGB images in, list of boxes per image out. ``magnify`` overrides the
    automatic magnification (small crops).
    """

    name = NAME
    # Images of one shape go through together up to this many pixels: small crops share a call.
    batch_pixels = 1 << 18

    def __init__(self, text_threshold: float = 0.5, low_text: float = 0.3, link_threshold: float = 0.3,
                 min_long_side: int = 0) -> None:
        self.thresholds = (text_threshold, link_threshold, low_text)
        self.min_long_side = min_long_side

    def scores(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 from ``prepare`` -> (N, H/2, W/2, 2) float32 region/affinity scores."""
        raise NotImplementedError

    def __call__(self, images: Sequence[np.ndarray], magnify: float | None = None) -> list[list[Box]]:
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
        height, width = images[0].shape[:2]
        mag = magnify or auto_magnify(images[0].shape, self.min_long_side)
        batch, ratio = prepare(images, mag)
        scores = self.scores(batch)
        return [boxes_from_scores(score, ratio, width, height, self.thresholds) for score in scores]
