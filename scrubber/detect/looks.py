"""Closer looks at crops of an image: where a crop lies, how much it is magnified, and the queue
(``Looks``) that gathers crops from every frame and rendering and runs them through the detector
together, each distinct crop once."""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np

from ..policy import Policy
from . import buckets
from .boxes import Box, Detection, overlaps, shifted
from .craft_post import auto_magnify
from .registry import Detector

ZOOM = 3.0  # the most a proposer mark is magnified for its closer look ...
MIN_ZOOM = 1.5  # ... and the least
GLYPH = 30  # ... between them, a mark is magnified to about this height (pixels)
COVERED = 0.5  # a proposal is covered when this share of it lies in OCR boxes
SAME = 2.0  # mean grey difference under which two crops of one place count as the same
LINE_REACH = 4  # crops of changed places reach this many margins along the line
LINE_COVERED = 0.9  # an extra rendering's line is left alone when OCR on "full" covered this share of it
LOCAL_ASPECT = 2.0  # a box from "local" is kept only when at least this many times as wide as high
FOLLOW_EDGE = 3  # a box this close to a side of a crop that reaches along its line may run on past it ...
FOLLOW_ROUNDS = 2  # ... and is followed this many crops further at most
WIDEN_SHARE = 0.5  # a box over at least this share of the columns of the line it was looked for is widened to it
# (``Looks.add``'s ``widen``: the level looks' boxes over 25 grey type left a first letter out, 0.78-0.95 of the line;
# the colour looks' over 8 px dark red type through JPEG one too)


def detector_name(detector: Detector, suffix: str = "") -> str:
    """Name of the detections of ``detector`` ("craft", "db-lines", ...), as the audit shows them."""
    return getattr(detector, "name", "detector") + (f"-{suffix}" if suffix else "")


def marks_detector(detector: Detector) -> Detector:
    """The detector for closer looks at lone characters (CRAFT where ``detector`` pairs DB with it)."""
    return getattr(detector, "marks", detector)


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def run_once(detector: Detector, images: Sequence[np.ndarray], **kwargs) -> list[list[Box]]:
    """Run the detector on each distinct image once (static clips repeat the same frames)."""
    if len(images) <= 1:
        return detector(list(images), **kwargs) if images else []
    keys = [_digest(image) for image in images]
    unique: dict[bytes, int] = {}
    for index, key in enumerate(keys):
        unique.setdefault(key, index)
    results = detector([images[i] for i in unique.values()], **kwargs) if unique else []
    by_key = dict(zip(unique, results))
    return [by_key[key] for key in keys]


def share_covered(box: Box, boxes: Sequence[Box]) -> float:
    """Share of ``box`` that lies inside any of ``boxes``."""
    x0, y0, x1, y1 = box
    inside = np.zeros((y1 - y0, x1 - x0), bool)
    for a0, b0, a1, b1 in boxes:
        if a0 < x1 and b0 < y1 and a1 > x0 and b1 > y0:  # most boxes lie elsewhere
            inside[max(0, b0 - y0):max(0, b1 - y0), max(0, a0 - x0):max(0, a1 - x0)] = True
    return np.count_nonzero(inside) / inside.size if inside.size else 1.0


def is_covered(box: Box, boxes: Sequence[Box]) -> bool:
    return share_covered(box, boxes) >= COVERED


def coverage(shape: tuple[int, ...], boxes: Sequence[Box]) -> Callable[[Box], float]:
    """``share_covered`` by ``boxes`` for many boxes of an image of ``shape`` (rows, columns): the
    union painted once and summed (an integral image), so each box costs four lookups."""
    inside = np.zeros(shape[:2], np.uint8)
    for x0, y0, x1, y1 in boxes:
        inside[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = 1
    total = cv2.integral(inside)

    def share(box: Box) -> float:
        x0, y0, x1, y1 = box  # a box of the image (a proposer mark)
        area = (x1 - x0) * (y1 - y0)
        if area <= 0:
            return 1.0
        return float(total[y1, x1] - total[y0, x1] - total[y1, x0] + total[y0, x0]) / area
    return share


def crop_bounds(shape: tuple[int, ...], box: Box, wide: bool = False, margin: int = 0) -> Box:
    """The box with a margin (by default its height), clipped to the image; ``wide`` reaches
    further along the line (a place that changed may be only part of a line of text)."""
    x0, y0, x1, y1 = box
    margin = margin or max(6, y1 - y0)
    side = LINE_REACH * margin if wide else margin
    return max(0, x0 - side), max(0, y0 - margin), min(shape[1], x1 + side), min(shape[0], y1 + margin)


def crop_of(image: np.ndarray, box: Box, wide: bool = False, margin: int = 0) -> tuple[np.ndarray, int, int]:
    """The pixels of ``crop_bounds`` and their left and top offsets."""
    left, top, right, bottom = crop_bounds(image.shape, box, wide, margin)
    return np.ascontiguousarray(image[top:bottom, left:right]), left, top


def whole_zoom(image: np.ndarray, policy: Policy) -> float:
    """The magnification of the whole-image pass (small images are magnified)."""
    return auto_magnify(image.shape, policy.min_long_side)


def crop_zoom(image: np.ndarray, policy: Policy, detector: Detector) -> float:
    """The magnification for crops of text-sized places: the whole-image pass's, so that a crop
    finds what that pass would find, times the detector's ``crop_zoom`` (DB finds small text in a
    crop magnified 1.5x that it misses at 1x; such crops are small, so this costs little)."""
    return whole_zoom(image, policy) * float(getattr(detector, "crop_zoom", 1.0))


class _Queued(NamedTuple):
    """One crop queued for a look: where it came from and how to look at it."""

    frame: int
    left: int  # the crop's offset in its image
    top: int
    zoom: float
    crop: np.ndarray
    rendering: str
    place: Box  # the line or region it was queued for, in crop coordinates
    again: bool  # a second look with the training normalisation where the first leaves ``place`` unread
    source: Callable[[], np.ndarray] | None  # the image it was cut from, where it is followed ...
    render: Callable[[np.ndarray], np.ndarray] | None  # ... and how its rendering was made
    follow: bool  # a box running to its side is followed (``Looks.run``): it reaches along the line, or is asked to
    width: int  # the source's width
    widen: bool  # a box found over ``place`` is widened to its columns


@dataclass
class Looks:
    """Closer looks at crops, gathered first and run together; a crop of a place that looks the
    same as one already queued (a static mark seen in many frames), or that holds the very pixels
    of a crop queued elsewhere (a marker repeated down the image), is looked at once.

    ``again`` (for every crop; or for one, at ``add``): a crop whose place (the line, or region of
    lines, it was queued for) the look left less than LINE_COVERED covered is looked at once more
    with the network's training normalisation, where the detector has one (DB: it then finds
    low-contrast text that its [-1, 1] input misses); of what only that look finds, lines (at
    least LOCAL_ASPECT times as wide as high) are kept: it also marks squarish spots of CT
    anatomy; and, where ``kept_as`` is given, each becomes what that returns for it (image
    coordinates; None: dropped): that look also marks the grain of blank JPEG paper."""

    detector: Detector
    suffix: str = "zoom"
    again: bool = False
    trained: bool = False  # the first look already with the training normalisation
    kept_as: Callable[[Box], Box | None] | None = None  # what becomes of a box only the second look finds
    _queue: list[_Queued] = field(default_factory=list)

    def add(self, frame: int, image: np.ndarray, box: Box, zoom: float, wide: bool = False,
            margin: int = 0, rendering: str = "full",
            render: Callable[[np.ndarray], np.ndarray] | None = None, again: bool = False,
            source: Callable[[], np.ndarray] | None = None, widen: bool = False, follow: bool = False) -> None:
        """Queue a look at ``box`` in ``image`` (``render``, when given, makes the crop's rendering
        from the crop alone; ``again`` asks for the second look for this crop alone, as the
        queue's ``again`` does for all). A ``wide`` crop keeps a way to its image, for a line
        followed past it: ``source``, which gives ``image`` again, where given (a clip's frames
        are rendered on demand, and the crops queued in all its frames would hold the clip).
        With ``widen``, a box found over ``box`` is widened to its columns: ``box`` is where the
        text's own pixels lie, and the look confirms it is text (a line of type's exact grey, of
        which DB in that rendering may leave a first or last thin letter out). With ``follow``, a
        crop that does not reach along the line is followed past its side as a ``wide`` one is."""
        crop, left, top = crop_of(image, box, wide, margin)
        if render is not None:
            crop = render(crop)
        place = shifted(box, -left, -top)
        follow = wide or follow
        again_source = (source or (lambda: image)) if follow else None
        self._queue.append(_Queued(frame, left, top, round(zoom, 2), crop, rendering, place, self.again or again,
                                   again_source, render, follow, image.shape[1], widen))

    def _look(self, indices: list[int]) -> list[list[Box]]:
        """Boxes per queued crop of ``indices`` (crop coordinates), with the second look."""
        crops, zooms = [self._queue[i].crop for i in indices], [self._queue[i].zoom for i in indices]
        found = buckets.look(self.detector, crops, zooms, **({"trained": True} if self.trained else {}))
        if not getattr(self.detector, "trained", False):
            return found
        unread = [k for k, i in enumerate(indices)
                  if self._queue[i].again and share_covered(self._queue[i].place, found[k]) < LINE_COVERED]
        more = buckets.look(self.detector, [crops[k] for k in unread], [zooms[k] for k in unread], trained=True)
        for k, boxes in zip(unread, more):
            q = self._queue[indices[k]]
            kept = [b for b in boxes if line_like(b)]
            if self.kept_as is not None:
                cut = [self.kept_as(shifted(b, q.left, q.top)) for b in kept]
                kept = [shifted(c, -q.left, -q.top) for c in cut if c is not None]
            found[k] = sorted({*found[k], *kept})
        return found

    def run(self) -> list[tuple[int, Detection]]:
        """Every queued crop looked at; where a box of a followed crop (``wide``, or ``follow``) runs to
        the crop's side (not the image's), a crop reaching along the line from that box is looked at too, up to
        FOLLOW_ROUNDS times: a label longer than the crop of its first words (an 18 px faint label
        shown for a moment in a clip, read from its first two words' places: its last third was
        outside the crop and stayed)."""
        out: list[tuple[int, Detection]] = []
        for round_ in range(FOLLOW_ROUNDS + 1):
            found, running_on = self._run_queue()
            out.extend(found)
            if round_ == FOLLOW_ROUNDS or not running_on:
                break
            for q, box in running_on:
                self.add(q.frame, q.source(), box, q.zoom, wide=True, rendering=q.rendering, render=q.render,
                         again=q.again, source=q.source)
        return out

    def _run_queue(self) -> tuple[list[tuple[int, Detection]], list[tuple[_Queued, Box]]]:
        """The detections of the queued crops, and the boxes (image coordinates, with their crop)
        that run to a followed crop's side; the queue emptied."""
        groups: dict[tuple, list[int]] = {}  # (left, top, zoom, shape, rendering) -> indices looked at
        copies: dict[tuple, int] = {}  # (zoom, rendering, shape, digest) -> the first crop with these pixels
        kinds = Counter((q.zoom, q.rendering, q.crop.shape) for q in self._queue)
        target: list[int] = []
        for index, (_, left, top, zoom, crop, rendering, *_) in enumerate(self._queue):
            if kinds[zoom, rendering, crop.shape] > 1:  # only then can another crop hold the same pixels
                first = copies.setdefault((zoom, rendering, crop.shape, _digest(crop)), index)
                if first != index:  # the same pixels elsewhere (a marker repeated down the image)
                    target.append(target[first])
                    continue
            seen = groups.setdefault((left, top, zoom, crop.shape, rendering), [])
            same = next((i for i in seen if float(np.mean(np.abs(
                crop.astype(np.int16) - self._queue[i].crop.astype(np.int16)))) <= SAME), None)
            if same is None:
                seen.append(index)
                same = index
            target.append(same)
        distinct = sorted(set(target))
        boxes = dict(zip(distinct, self._look(distinct)))
        out, running_on = [], []
        name = detector_name(self.detector, self.suffix)
        for index, looked in enumerate(target):
            q = self._queue[index]
            found = [_widened(b, q.place) for b in boxes[looked]] if q.widen else boxes[looked]
            out.extend((q.frame, Detection(shifted(b, q.left, q.top), name, q.rendering)) for b in found)
            if q.follow:
                running_on.extend((q, shifted(b, q.left, q.top)) for b in boxes[looked] if _runs_on(q, b))
        self._queue.clear()
        return out, running_on


def _widened(box: Box, place: Box) -> Box:
    """``box`` reaching to the columns of ``place``, by at most its height (a letter) each way,
    where it reads at least WIDEN_SHARE of them: a letter short of the line's end (a box over one
    of two labels that a line joins is left as it is)."""
    reach = box[3] - box[1]
    if not overlaps(box, place) or min(box[2], place[2]) - max(box[0], place[0]) < WIDEN_SHARE * (place[2] - place[0]):
        return box
    return max(min(box[0], place[0]), box[0] - reach), box[1], min(max(box[2], place[2]), box[2] + reach), box[3]


def _runs_on(q: _Queued, box: Box) -> bool:
    """``box`` (crop coordinates), a line (``line_like``) over the place the crop was cut for,
    reaches within FOLLOW_EDGE of a side of its crop that is not a side of the image: the line may
    go on past the crop. Other lines the crop takes in (a device's own text beside a new label)
    are not followed: their own looks read them."""
    width = q.crop.shape[1]
    at_left = box[0] <= FOLLOW_EDGE and q.left > 0
    at_right = box[2] >= width - FOLLOW_EDGE and q.left + width < q.width
    return line_like(box) and overlaps(box, q.place) and (at_left or at_right)


def zoom_to(box: Box, height: int) -> float:
    """The magnification that brings ``box`` to about ``height`` pixels, from MIN_ZOOM to ZOOM."""
    return min(ZOOM, max(MIN_ZOOM, height / max(1, box[3] - box[1])))


def line_like(box: Box) -> bool:
    """At least LOCAL_ASPECT times as wide as high: a word or line, not a squarish spot."""
    return box[2] - box[0] >= LOCAL_ASPECT * (box[3] - box[1])
