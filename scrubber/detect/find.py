"""Find text in the renderings of every frame.

A single image: OCR on the "full" rendering; "local" (faint labels on grey banners) is looked at
whole, and each line it shows again close up; each other extra rendering (window, enhanced, dark)
is looked at where it shows lines of strokes on flat ground that OCR on "full" left uncovered
(crops, batched; "enhanced" also at flat panels, banners whose label is too faint for strokes),
or whole when such lines span much of the image (a busy screen); lines of strokes on any
ground that have the shape of a line of text and that OCR left uncovered (small type over tissue)
are looked at again, magnified; then a closer look, by the detector's ``marks`` (CRAFT), where the
proposer sees glyph-like marks that OCR left uncovered.

A clip: its static layer (the median over the frames, where burned-in overlays are crisp) is read
as a single image is, its "local" rendering also magnified (the cost is paid once for every
frame), and the extra renderings of the key frames where they can add to it; then
every frame is checked cheaply, and OCR looks again only at small crops: the places that keep
changing (clocks, counters), text-sized places where a frame differs from the median (a label
shown for a moment; a faint one, a few grey levels off black, also in its enhanced and local
renderings, magnified), lines of strokes over the moving image that stay put for a few frames (a
name drawn on the image) or that have the shape of text and are there in one frame only, lines
of one colour among the pixels whose colour is not the static layer's (blue or dark red type
shown for a moment forms no grey strokes of its own), and key-frame boxes whose content differs
in that frame. A frame with too many new places is looked
at whole. So recall holds in every frame while OCR cost grows
with what changes, not with the number of frames.
"""
from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..policy import Policy
from . import buckets
from .blobs import components_with_stats
from .boxes import Box, Detection, overlaps
from .layouts import Reference
from .motion import (MAX_PLACES, STRONG_PIXELS, TOLERANCE, Motion, analyse, appearing, changing_places, components,
                     image_area, new_lines, static_layer, strong_places)
from .craft_post import auto_magnify
from .proposer import (colour_lines, dark_on_bright, lines_of, panels, propose, strokes, text_lines, text_shaped,
                       unruled)
from .registry import Detector
from .renderings import (INK_GAIN, View, colour_plane, coloured, coloured_pixels, darken, enhance, faint_in, ink,
                         key_frames, localise, neutral, smooth, views)

ZOOM = 3.0  # the most a proposer mark is magnified for its closer look ...
MIN_ZOOM = 1.5  # ... and the least
GLYPH = 30  # ... between them, a mark is magnified to about this height (pixels)
COVERED = 0.5  # a proposal is covered when this share of it lies in OCR boxes
SAME = 2.0  # mean grey difference under which two crops of one place count as the same
IDENTICAL = 2  # largest grey difference of two images at a box for them to hold the same pixels there
CHANGED = 0.02  # share of a box's pixels that may differ from the key frame for the box to carry over
SAMPLES = 3  # frames in which a changing place is looked at
LINE_REACH = 4  # crops of changed places reach this many margins along the line
AREA_MARGIN = 8  # pixels around a large changed area looked at whole
LINE_COVERED = 0.9  # an extra rendering's line is left alone when OCR on "full" covered this share of it
PANEL_MARGIN = 8  # pixels around a flat panel (banner) looked at alone in the enhanced rendering
REGION_MARGIN = 2  # pixels around a merged region of lines (each line already has its margins)
WHOLE_SHARE = 0.35  # crops of an extra rendering spanning more of the image than this: look at it whole
WHOLE = ("local", "ink", "smooth")  # extra renderings looked at whole: what they reveal is too faint (local) or
# sits on too busy a ground in the full rendering (ink: dark type over bright speckle; smooth: large type over
# tissue) for text_lines to find
LARGE_LINE = 18  # px: the least height of a line of large type (24 px capitals form lines of 26-28; speckle
# at half size in "smooth" mostly forms lines of 10-14, which a later image does not look at)
WHOLE_SCALE = {"smooth": 0.5}  # ... at this share of the whole pass's magnification (large type is large
# enough at half size, and a quarter of the pixels costs a quarter)
INK_GROUND = 256 // INK_GAIN  # an "ink" box is kept only where its median grey in the full rendering is at
# least this: dark type sits on bright ground (a bright trace or label on black is for "full" to read)
LOCAL_ASPECT = 2.0  # a box from "local" is kept only when at least this many times as wide as high
STATIC_LOCAL_ZOOMS = (1.5,)  # a clip's static layer: its "local" rendering is also read whole magnified this
# much (8 px type the pass at 1x misses; 2.25x that pass's cost, once per clip: single images go without)
RECHECK_HEIGHT = 40  # a line of strokes that OCR left uncovered and that has the shape of text is looked
# at again magnified to about this height (pixels; 8 px type forms lines of 12-17), between MIN_ZOOM and
# ZOOM times the whole-image pass
CARRIED = "layout-reference"  # detector name of boxes carried over from a layout's first image


def _name(detector: Detector, suffix: str = "") -> str:
    """Name of the detections of ``detector`` ("craft", "db-lines", ...), as the audit shows them."""
    return getattr(detector, "name", "detector") + (f"-{suffix}" if suffix else "")


def _marks(detector: Detector) -> Detector:
    """The detector for closer looks at lone characters (CRAFT where ``detector`` pairs DB with it)."""
    return getattr(detector, "marks", detector)


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def _run_once(detector: Detector, images: Sequence[np.ndarray], **kwargs) -> list[list[Box]]:
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


def _share_covered(box: Box, boxes: Sequence[Box]) -> float:
    """Share of ``box`` that lies inside any of ``boxes``."""
    x0, y0, x1, y1 = box
    inside = np.zeros((y1 - y0, x1 - x0), bool)
    for a0, b0, a1, b1 in boxes:
        if a0 < x1 and b0 < y1 and a1 > x0 and b1 > y0:  # most boxes lie elsewhere
            inside[max(0, b0 - y0):max(0, b1 - y0), max(0, a0 - x0):max(0, a1 - x0)] = True
    return np.count_nonzero(inside) / inside.size if inside.size else 1.0


def _covered(box: Box, boxes: Sequence[Box]) -> bool:
    return _share_covered(box, boxes) >= COVERED


def _crop_bounds(shape: tuple[int, ...], box: Box, wide: bool = False, margin: int = 0) -> Box:
    """The box with a margin (by default its height), clipped to the image; ``wide`` reaches
    further along the line (a place that changed may be only part of a line of text)."""
    x0, y0, x1, y1 = box
    margin = margin or max(6, y1 - y0)
    side = LINE_REACH * margin if wide else margin
    return max(0, x0 - side), max(0, y0 - margin), min(shape[1], x1 + side), min(shape[0], y1 + margin)


def _crop(image: np.ndarray, box: Box, wide: bool = False, margin: int = 0) -> tuple[np.ndarray, int, int]:
    """The pixels of ``_crop_bounds`` and their left and top offsets."""
    left, top, right, bottom = _crop_bounds(image.shape, box, wide, margin)
    return np.ascontiguousarray(image[top:bottom, left:right]), left, top


def _whole_zoom(image: np.ndarray, policy: Policy) -> float:
    """The magnification of the whole-image pass (small images are magnified)."""
    return auto_magnify(image.shape, policy.min_long_side)


def _crop_zoom(image: np.ndarray, policy: Policy, detector: Detector) -> float:
    """The magnification for crops of text-sized places: the whole-image pass's, so that a crop
    finds what that pass would find, times the detector's ``crop_zoom`` (DB finds small text in a
    crop magnified 1.5x that it misses at 1x; such crops are small, so this costs little)."""
    return _whole_zoom(image, policy) * float(getattr(detector, "crop_zoom", 1.0))


@dataclass
class _Looks:
    """Closer looks at crops, gathered first and run together; a crop of a place that looks the
    same as one already queued (a static mark seen in many frames), or that holds the very pixels
    of a crop queued elsewhere (a marker repeated down the image), is looked at once.

    ``again``: a crop whose place (the line, or region of lines, it was queued for) the look left
    less than LINE_COVERED covered is looked at once more with the network's training
    normalisation, where the detector has one (DB: it then finds low-contrast text that its
    [-1, 1] input misses); of what only that look finds, lines (at least LOCAL_ASPECT times as
    wide as high) are kept: it also marks squarish spots of CT anatomy."""

    detector: Detector
    suffix: str = "zoom"
    again: bool = False
    trained: bool = False  # the first look already with the training normalisation
    _queue: list[tuple[int, int, int, float, np.ndarray, str, Box]] = field(default_factory=list)

    def add(self, frame: int, image: np.ndarray, box: Box, zoom: float, wide: bool = False,
            margin: int = 0, rendering: str = "full",
            render: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """Queue a look at ``box`` in ``image`` (``render``, when given, makes the crop's rendering
        from the crop alone)."""
        crop, left, top = _crop(image, box, wide, margin)
        if render is not None:
            crop = render(crop)
        place = (box[0] - left, box[1] - top, box[2] - left, box[3] - top)
        self._queue.append((frame, left, top, round(zoom, 2), crop, rendering, place))

    def _look(self, indices: list[int]) -> list[list[Box]]:
        """Boxes per queued crop of ``indices`` (crop coordinates), with the second look."""
        crops, zooms = [self._queue[i][4] for i in indices], [self._queue[i][3] for i in indices]
        found = buckets.look(self.detector, crops, zooms, **({"trained": True} if self.trained else {}))
        if not (self.again and getattr(self.detector, "trained", False)):
            return found
        unread = [k for k, i in enumerate(indices) if _share_covered(self._queue[i][6], found[k]) < LINE_COVERED]
        more = buckets.look(self.detector, [crops[k] for k in unread], [zooms[k] for k in unread], trained=True)
        for k, boxes in zip(unread, more):
            found[k] = sorted({*found[k], *filter(_wide, boxes)})
        return found

    def run(self) -> list[tuple[int, Detection]]:
        groups: dict[tuple, list[int]] = {}  # (left, top, zoom, shape, rendering) -> indices looked at
        copies: dict[tuple, int] = {}  # (zoom, rendering, shape, digest) -> the first crop with these pixels
        kinds = Counter((zoom, rendering, crop.shape) for _, _, _, zoom, crop, rendering, _ in self._queue)
        target: list[int] = []
        for index, (_, left, top, zoom, crop, rendering, _) in enumerate(self._queue):
            if kinds[zoom, rendering, crop.shape] > 1:  # only then can another crop hold the same pixels
                first = copies.setdefault((zoom, rendering, crop.shape, _digest(crop)), index)
                if first != index:  # the same pixels elsewhere (a marker repeated down the image)
                    target.append(target[first])
                    continue
            seen = groups.setdefault((left, top, zoom, crop.shape, rendering), [])
            same = next((i for i in seen if float(np.mean(np.abs(
                crop.astype(np.int16) - self._queue[i][4].astype(np.int16)))) <= SAME), None)
            if same is None:
                seen.append(index)
                same = index
            target.append(same)
        distinct = sorted(set(target))
        boxes = dict(zip(distinct, self._look(distinct)))
        out = []
        name = _name(self.detector, self.suffix)
        for index, looked in enumerate(target):
            frame, left, top, _, _, rendering, _ = self._queue[index]
            out.extend((frame, Detection((x0 + left, y0 + top, x1 + left, y1 + top), name, rendering))
                       for x0, y0, x1, y1 in boxes[looked])
        self._queue.clear()
        return out


def _closer_look(image: np.ndarray, frame: int, known: Sequence[Box], looks: _Looks,
                 wanted: Callable[[Box], bool] | None = None) -> None:
    """Queue a zoomed look at every (wanted) proposer mark that OCR left uncovered, magnified to
    about GLYPH pixels: a 10 px letter 3x, a 20 px one 1.5x (CRAFT reads it as well there, and
    a look costs the square of the zoom)."""
    for proposal in propose(image, wanted):
        if not _covered(proposal, known):
            looks.add(frame, image, proposal, _zoom_to(proposal, GLYPH))


def _zoom_to(box: Box, height: int) -> float:
    """The magnification that brings ``box`` to about ``height`` pixels, from MIN_ZOOM to ZOOM."""
    return min(ZOOM, max(MIN_ZOOM, height / max(1, box[3] - box[1])))


def _local_line(original: np.ndarray, box: Box) -> bool:
    """A box found in "local" is a line of text: wide (DB's squarish boxes there are edges and
    spots of anatomy after local contrast; a lone faint character is given up) and faint in
    ``original``, the full rendering (``faint_in``)."""
    return _wide(box) and faint_in(original, box)


def _wide(box: Box) -> bool:
    """At least LOCAL_ASPECT times as wide as high: a word or line, not a squarish spot."""
    return box[2] - box[0] >= LOCAL_ASPECT * (box[3] - box[1])


def _line_regions(image: np.ndarray, lines: Sequence[Box]) -> tuple[list[Box], float]:
    """Regions to look at for ``lines`` (each widened as ``_crop(..., wide=True)`` widens it, the
    overlapping ones merged: one larger crop costs less than many small ones), and the share of
    the image they cover."""
    covered = np.zeros(image.shape[:2], np.uint8)
    for box in lines:
        left, top, right, bottom = _crop_bounds(image.shape, box, wide=True)
        covered[top:bottom, left:right] = 1
    count, _, stats = components_with_stats(covered, 4)
    regions = [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, _ in stats[1:count]]
    return regions, float(covered.mean())


def _extra_renderings(todo: Sequence[View], known: Callable[[int], Sequence[Box]],
                      original: Callable[[int], np.ndarray], policy: Policy,
                      detector: Detector, local_zooms: Sequence[float] = ()) -> list[tuple[int, Detection]]:
    """(view.frame, detection) from extra renderings (window, enhanced, local, dark, ink), each looked at
    where it can add to ``known(view.frame)``, the boxes OCR found on ``original(view.frame)``, the
    full rendering.

    "local" is looked at whole (what it reveals is too faint for ``text_lines`` in any other
    rendering; also magnified by each of ``local_zooms``, where the caller can afford it: 8 px
    type that the whole pass at 1x misses); of its boxes, the lines faint in the full rendering are
    kept (``_local_line``), and each is looked at again close up (``_closer_at_local``). "ink" is
    looked at whole too (dark type over bright speckle: in the full rendering the speckle's strokes
    drown the type's), where it shows lines of dark pixels on bright ground that ``known``
    leaves uncovered (``_ink_lines``); of its boxes, lines on bright ground that ``known``
    leaves uncovered are kept (``_kept``).

    Text that only an extra rendering reveals (a faint label, text outside the display window)
    forms lines of strokes on flat ground there (``text_lines(on_flat=True)``: in tissue such a
    rendering shows texture); OCR looks at crops of those lines that ``known`` leaves
    uncovered, padded along the line, overlapping crops merged, and, in "enhanced", at each flat
    panel of a line's size that ``known`` leaves uncovered, alone (``panels``: a label 8 grey
    levels off its banner through JPEG forms no strokes; crops merged with bright lines nearby
    did not read it, the banner's own crop does); a crop the look leaves uncovered is
    looked at again with DB's training normalisation (``_Looks.again``: faint labels 8 grey levels
    off their ground, after JPEG, read whole where [-1, 1] reads three quarters). A rendering whose
    uncovered lines span more than WHOLE_SHARE of the image is looked at whole.
    """
    looks = _Looks(detector, "lines", again=True)
    whole: list[View] = []
    banners: list[tuple[int, np.ndarray, np.ndarray, Box]] = []
    for view in todo:
        if view.rendering == "ink" and not _ink_lines(original(view.frame), view.image, known(view.frame)):
            continue  # no dark type on bright ground can be left unread: a page, a screenshot
        if view.rendering in WHOLE:
            whole.append(view)
            continue
        lines = [b for b in text_lines(view.image, on_flat=True) if _share_covered(b, known(view.frame)) < LINE_COVERED]
        regions, share = _line_regions(view.image, lines)
        if share > WHOLE_SHARE:
            whole.append(view)
            continue
        for box in regions:
            looks.add(view.frame, view.image, box, _crop_zoom(view.image, policy, detector),
                      margin=REGION_MARGIN, rendering=view.rendering)
        if view.rendering == "enhanced":
            banners += [(view.frame, original(view.frame), view.image, panel) for panel in panels(original(view.frame))
                        if _share_covered(panel, known(view.frame)) < LINE_COVERED]
    found = _whole_views(detector, whole, policy)
    local = [index for index, view in enumerate(whole) if view.rendering == "local"]
    for zoom in local_zooms:
        magnified = buckets.look(detector, [whole[i].image for i in local],
                                 [_whole_zoom(whole[i].image, policy) * zoom for i in local])
        for index, boxes in zip(local, magnified):
            found[index] = [*found[index], *boxes]
    out = [(view.frame, Detection(box, _name(detector), view.rendering))
           for view, boxes in zip(whole, found) for box in boxes
           if _kept(view.rendering, original(view.frame), known(view.frame), box)]
    large = [(frame, d) for frame, d in out if d.rendering == "smooth"]
    out = [(frame, d) for frame, d in out if d.rendering != "smooth"]
    zoom = _crop_zoom(todo[0].image, policy, detector) if todo else 1.0
    return (out + _closer_at_local(out, whole, original, policy, detector)
            + _closer_at_smooth(large, _rendering_of(whole, "smooth"), original, known, policy, detector)
            + looks.run()
            + _read_panels(banners, zoom, detector, "lines"))


def _whole_views(detector: Detector, whole: Sequence[View], policy: Policy) -> list[list[Box]]:
    """Boxes per view looked at whole, each rendering at its share of the whole pass's
    magnification (WHOLE_SCALE)."""
    found: list[list[Box]] = [[] for _ in whole]
    scales: dict[float, list[int]] = {}
    for index, view in enumerate(whole):
        scales.setdefault(WHOLE_SCALE.get(view.rendering, 1.0), []).append(index)
    for scale, indices in scales.items():
        images = [whole[i].image for i in indices]
        kwargs = {} if scale == 1.0 else {"magnify": _whole_zoom(images[0], policy) * scale}
        for index, boxes in zip(indices, _run_once(detector, images, **kwargs)):
            found[index] = boxes
    return found


def _read_panels(todo: Sequence[tuple[int, np.ndarray, np.ndarray, Box]], zoom: float, detector: Detector,
                 suffix: str) -> list[tuple[int, Detection]]:
    """(frame, detection) from looks at flat panels (``panels``), each given as (frame, the full
    rendering, the enhanced one, panel): first a crop of the enhanced image, then, for a panel
    that look gives no box at all, the crop of the full rendering enhanced alone. CLAHE's tiles
    over a banner amid tissue (a clip's sector) are set by the tissue and lift the banner's faint
    label little; alone, the crop's own tiles lift it (sweep, "static": 8 px labels 8 levels off
    a banner over color3d's sector). Not always alone: there DB's boxes of a faint line on a
    plain bar came out wider, and a box that reaches an MCU border blanks the MCU beyond too."""
    first = _Looks(detector, suffix, again=True)
    for frame, _, enhanced, panel in todo:
        first.add(frame, enhanced, panel, zoom, margin=PANEL_MARGIN, rendering="enhanced")
    found = first.run()
    alone = _Looks(detector, suffix, again=True)
    for frame, full, _, panel in todo:
        if not any(seen == frame and overlaps(d.box, panel) for seen, d in found):
            alone.add(frame, full, panel, zoom, margin=PANEL_MARGIN, rendering="enhanced", render=enhance)
    return found + alone.run()


def _kept(rendering: str, original: np.ndarray, known: Sequence[Box], box: Box) -> bool:
    """A box found on a rendering looked at whole is kept: from "local", a line faint in the full
    rendering ``original`` (``_local_line``); from "ink", a line (``_wide``) on bright ground
    (``_on_bright``) that ``known``, what the full rendering gave, leaves less than LINE_COVERED
    covered; from "smooth", a line that ``known`` does not read (``_read``); from any other, every
    box."""
    if rendering == "local":
        return _local_line(original, box)
    if rendering == "ink":
        return _wide(box) and _share_covered(box, known) < LINE_COVERED and _on_bright(original, box)
    if rendering == "smooth":
        return _wide(box) and not _read(box, known)
    return True


def _unread_run(line: Box, known: Sequence[Box]) -> int:
    """The longest run of columns of ``line`` that no ``known`` box on its row (overlapping half
    the height of the lower of the two) covers: a line of text is read when no such run is longer
    than half its height, whatever the size of the boxes that read it (a box from a look at half
    size reaches further around its text than the full rendering's box of the same line, above,
    below and past its ends, by up to about that much; a word left unread is a longer run)."""
    read = np.concatenate(([True], _columns_read(line, known), [True]))
    return int(np.diff(np.flatnonzero(read)).max()) - 1


def _columns_read(line: Box, known: Sequence[Box]) -> np.ndarray:
    """Which columns of ``line`` a ``known`` box on its row (overlapping half the height of the
    lower of the two) covers."""
    x0, y0, x1, y1 = line
    read = np.zeros(max(0, x1 - x0), bool)
    for a0, b0, a1, b1 in known:
        if min(y1, b1) - max(y0, b0) >= min(y1 - y0, b1 - b0) / 2:
            read[max(0, a0 - x0):max(0, a1 - x0)] = True
    return read


def _read(line: Box, known: Sequence[Box]) -> bool:
    """``known`` reads ``line``: no run of its columns longer than half its height is left
    unread (``_unread_run``)."""
    return _unread_run(line, known) <= (line[3] - line[1]) // 2


def _on_bright(original: np.ndarray, box: Box) -> bool:
    """The median grey of ``box`` in ``original`` (RGB) is at least INK_GROUND: most of it lies above
    the darkest quarter that "ink" shows, so what "ink" found there is dark type over a bright
    ground, not bright strokes on black turned around (a waveform trace, a toolbar's label)."""
    x0, y0, x1, y1 = box
    crop = np.ascontiguousarray(original[y0:y1, x0:x1])
    return crop.size > 0 and float(np.median(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY))) >= INK_GROUND


def _ink_lines(original: np.ndarray, shown: np.ndarray, known: Sequence[Box]) -> list[Box]:
    """Where the "ink" rendering ``shown`` of ``original`` is worth reading: lines of dark pixels
    next to bright ground that ``known`` leaves uncovered (``dark_on_bright``) on bright ground
    (``_on_bright``, as its boxes must be). The edges of a cardiac sector's walls form such lines
    on dark ground (6 of 39 later files of color3d's series read it whole for nothing before)."""
    return [line for line in dark_on_bright(shown, known) if _on_bright(original, line)]


def _ink_read(image: np.ndarray, known: Sequence[Box], wanted: Callable[[Box], bool],
              detector: Detector) -> list[Detection]:
    """What DB reads in the "ink" rendering of ``image``, whole, as a single image's pass reads it
    (the same image gives the same boxes whether it comes first in its layout or not), where that
    rendering shows lines of dark pixels on bright ground that ``known`` leaves uncovered
    (``_ink_lines``) and ``wanted`` accepts (a later image of a layout: where it differs from
    the reference); its boxes kept as ``_kept`` keeps them."""
    shown = ink(image)
    if not any(wanted(line) for line in _ink_lines(image, shown, known)):
        return []
    return [Detection(box, _name(detector), "ink") for box in detector([shown])[0] if _kept("ink", image, known, box)]


def _rendering_of(whole: Sequence[View], rendering: str) -> Callable[[int], np.ndarray]:
    """The image of ``rendering`` among ``whole`` for a frame."""
    images = {view.frame: view.image for view in whole if view.rendering == rendering}
    return images.__getitem__


def _closer_at_local(found: Sequence[tuple[int, Detection]], whole: Sequence[View],
                     original: Callable[[int], np.ndarray], policy: Policy,
                     detector: Detector) -> list[tuple[int, Detection]]:
    """Each line ``found`` on a "local" rendering looked at whole, looked at again as a crop of
    that rendering magnified to about RECHECK_HEIGHT: at the whole pass's scale DB often gives a
    faint label only part of its box (a box from x 242 to 291 over a label from 235 to 301),
    which leaves its ends standing out; close up it reads the line to its ends. Of the boxes,
    the lines faint in the full rendering are kept, as in the whole pass (``_local_line``)."""
    local = _rendering_of(whole, "local")
    looks = _Looks(detector, "local")
    for frame, detection in found:
        if detection.rendering == "local":
            image = local(frame)
            zoom = _whole_zoom(image, policy) * _zoom_to(detection.box, RECHECK_HEIGHT)
            looks.add(frame, image, detection.box, zoom, rendering="local")
    return [(frame, d) for frame, d in looks.run() if _local_line(original(frame), d.box)]


def _closer_at_smooth(found: Sequence[tuple[int, Detection]], smoothed: Callable[[int], np.ndarray],
                      original: Callable[[int], np.ndarray], known: Callable[[int], Sequence[Box]],
                      policy: Policy, detector: Detector) -> list[tuple[int, Detection]]:
    """Each line ``found`` on the "smooth" rendering looked at whole (at half size), looked at again
    as a crop of that rendering reaching along the line, magnified to about RECHECK_HEIGHT: at
    half size DB often reads only part of a large label (the "4455" of "ID 4455" where a thin
    white frame crosses its "ID") in a box that reaches well above and below it; along the line
    and close up it reads the line to its ends, in boxes that fit it. Of those, the lines the
    full rendering left unread are kept (``_kept``); a box of the whole pass stays only where the
    closer look found nothing over it (its ends may reach past the text, over speckle beside it,
    by a word's length)."""
    looks = _Looks(detector, "smooth")
    for frame, detection in found:
        image = smoothed(frame)
        zoom = _whole_zoom(image, policy) * _zoom_to(detection.box, RECHECK_HEIGHT)
        looks.add(frame, image, detection.box, zoom, wide=True, rendering="smooth")
    seen = looks.run()
    close = [(frame, d) for frame, d in seen if _kept("smooth", original(frame), known(frame), d.box)]
    return close + [(frame, d) for frame, d in found
                    if not any(other == frame and overlaps(c.box, d.box) for other, c in seen)]


def _unread_lines(image: np.ndarray, known: Sequence[Box]) -> list[Box]:
    """Lines of sharp strokes in ``image``, on any ground, that have the shape of a line of text
    and that OCR left uncovered (``known``). At 1x DB gives no probability to some text over
    tissue: 8 px type, and words whose thin strokes cross colour Doppler (it read "SMITH" and not
    "JOHN" on one line); magnified up to 3x it reads most (benchmarks/recall_sweep.py). Speckle
    forms lines too, but seldom three times as wide as high, so few are looked at."""
    return _unread(text_lines(image), known)


def _unread(lines: Sequence[Box], known: Sequence[Box]) -> list[Box]:
    """Of ``lines`` of strokes, those with the shape of a line of text (``text_shaped``) that
    ``known`` leaves less than LINE_COVERED covered."""
    return [box for box in lines if text_shaped(box) and _share_covered(box, known) < LINE_COVERED]


def _recheck(image: np.ndarray, frame: int, known: Sequence[Box], looks: _Looks, policy: Policy,
             wanted: Callable[[Box], bool] = lambda box: True, coloured_where: np.ndarray | None = None) -> None:
    """Queue a closer look (RECHECK_HEIGHT) at every (wanted) line ``_unread_lines`` finds, and
    where the line's crop holds colour, at the same crop of the "neutral" rendering too (white
    text over colour flow); and at lines of one colour (``_colour_looks``; of the pixels in
    ``coloured_where``, when given)."""
    grey: np.ndarray | None = None
    for line in _unread_lines(image, known):
        if not wanted(line):
            continue
        zoom = _whole_zoom(image, policy) * _zoom_to(line, RECHECK_HEIGHT)
        looks.add(frame, image, line, zoom)
        if coloured(_crop(image, line)[0]):
            grey = neutral(image) if grey is None else grey
            looks.add(frame, grey, line, zoom, rendering="neutral")
    _colour_looks(image, frame, known, looks, policy, wanted, coloured_where)


def _turn(box: Box, shape: tuple[int, ...]) -> Box:
    """``box`` of an image of ``shape`` in that image turned a quarter clockwise (``turned``)."""
    x0, y0, x1, y1 = box
    return shape[0] - y1, x0, shape[0] - y0, x1


def _unturn(box: Box, shape: tuple[int, ...]) -> Box:
    """A box of the image of ``shape`` turned a quarter clockwise, in that image."""
    x0, y0, x1, y1 = box
    return y0, shape[0] - x1, y1, shape[0] - x0


def _turned_read(image: np.ndarray, known: Sequence[Box], policy: Policy, detector: Detector,
                 wanted: Callable[[Box], bool] = lambda box: True) -> list[Detection]:
    """Vertical lines of text: the lines of strokes (rules taken out, ``unruled``: a label crossing
    a pane's frame joins it into one shape too tall for a line) of ``image`` turned a quarter
    clockwise (``turned``) that have the shape of text and that ``known`` leaves unread (and
    ``wanted`` accepts, in the image's coordinates), looked at there, magnified to about
    RECHECK_HEIGHT. DB reads lines along the rows; a label running up or down the image (a
    radiograph's name plate when the image was turned, an axis title, a vendor's vertical scale
    legend) it reads in pieces or not at all; turned, the line lies along the rows, upright or
    upside down, and it reads it whole. Speckle forms few lines three times as tall as wide, so
    an ultrasound frame gets few looks (none on US1 or color3d)."""
    grey = cv2.rotate(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.ROTATE_90_CLOCKWISE)
    read = [_turn(box, image.shape) for box in known]
    lines = [line for line in _unread(lines_of(unruled(strokes(grey))), read) if wanted(_unturn(line, image.shape))]
    if not lines:  # most images: turning the image itself costs more than finding its lines
        return []
    turned = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    looks = _Looks(detector, "turned")
    for line in lines:
        looks.add(0, turned, line, _whole_zoom(image, policy) * _zoom_to(line, RECHECK_HEIGHT), rendering="turned")
    return [Detection(_unturn(d.box, image.shape), d.detector, d.rendering) for _, d in looks.run()]


def _colour_looks(image: np.ndarray, frame: int, known: Sequence[Box], looks: _Looks, policy: Policy,
                  wanted: Callable[[Box], bool] = lambda box: True, where: np.ndarray | None = None) -> None:
    """Queue a closer look (RECHECK_HEIGHT) at every (wanted) line of one colour that ``known``
    leaves uncovered (``colour_lines``), in that colour's plane (``colour_plane``), where the
    policy asks for "colour". Blue, magenta or dark red type over grey tissue has about the
    tissue's luminance and forms no strokes in the image (US1 with blue labels over its panes:
    6 of 18 removed); in its plane it is alone, light on black (17 of 18; the recall sweep's
    "colour" group). Type of the hue of the flow under it (red over red-yellow Doppler) shares
    the flow's plane and stays hard."""
    for sector, line in colour_lines(image, where) if "colour" in policy.renderings else ():
        if _share_covered(line, known) < LINE_COVERED and wanted(line):
            looks.add(frame, image, line, _whole_zoom(image, policy) * _zoom_to(line, RECHECK_HEIGHT),
                      rendering="colour", render=functools.partial(colour_plane, sector=sector))


def _whole(detector: Detector, images: Sequence[np.ndarray], policy: Policy) -> list[list[Box]]:
    """Boxes per image of the whole-image pass of single images: with DB's training normalisation
    where the detector has one (it reads faint banner labels and dark type over tissue that
    [-1, 1] misses, benchmarks/README.md). Of its boxes, those that hold colour (it marks colour
    Doppler as text) or are not lines (``_wide``: it marks squarish spots of CT anatomy) are kept
    only where a look at their crop at [-1, 1] covers them (COVERED), together with what that look
    finds over them (``_Looks``, the frame slot carrying the box's index in ``doubtful``)."""
    if not getattr(detector, "trained", False):
        return _run_once(detector, images)
    found = _run_once(detector, images, trained=True)
    return [sorted(set(boxes)) for boxes in _confirmed(images, found, policy, detector, trained=False)]


def _doubtful(image: np.ndarray, box: Box) -> bool:
    """A box of a whole look that one normalisation alone does not vouch for: it holds colour (DB
    marks colour Doppler as text) or is not a line (``_wide``: DB marks squarish spots of CT and
    NM anatomy)."""
    return not _wide(box) or coloured(image[box[1]:box[3], box[0]:box[2]])


def _confirmed(images: Sequence[np.ndarray], found: Sequence[Sequence[Box]], policy: Policy,
               detector: Detector, trained: bool) -> list[list[Box]]:
    """``found`` per image, its doubtful boxes (``_doubtful``) kept only where a look at their crop
    with the other normalisation (``trained``: DB's training one; else [-1, 1]) covers them
    (COVERED), together with what that look finds over them (the frame slot carries the box's
    index in ``doubtful``)."""
    doubtful = [(index, box) for index, (image, boxes) in enumerate(zip(images, found)) for box in boxes
                if _doubtful(image, box)]
    out = [[box for box in boxes if (index, box) not in doubtful] for index, boxes in enumerate(found)]
    if not doubtful:
        return out
    checks = _Looks(detector, trained=trained)
    for slot, (index, box) in enumerate(doubtful):
        checks.add(slot, images[index], box, _whole_zoom(images[index], policy))
    seen: dict[int, list[Box]] = {}
    for slot, detection in checks.run():
        seen.setdefault(slot, []).append(detection.box)
    for slot, (index, box) in enumerate(doubtful):
        other = [box2 for box2 in seen.get(slot, []) if overlaps(box2, box)]
        if _covered(box, other):
            out[index].extend([box, *other])
    return out


def _single(full: np.ndarray, window: np.ndarray | None, policy: Policy,
            detector: Detector, local_zooms: Sequence[float] = ()) -> list[list[Detection]]:
    """"full" whole (``_whole``), the extra renderings where they can add to it (every rendering
    whole when "full" is not asked for; "local" also magnified by ``local_zooms``), a closer look at
    lines of strokes left unread, then closer looks at lone marks."""
    todo: list[View] = views(full, window, policy.renderings, policy.extra_rendering_frames)
    first = [v for v in todo if v.rendering == "full"]
    extra = [v for v in todo if v.rendering != "full"] if first else []
    first = first or todo
    found: list[list[Detection]] = [[] for _ in range(full.shape[0])]
    for view, boxes in zip(first, _whole(detector, [v.image for v in first], policy)):
        found[view.frame].extend(Detection(box, _name(detector), view.rendering) for box in boxes)
    known = lambda f: [d.box for d in found[f]]  # noqa: E731
    for frame, detection in _extra_renderings(extra, known, lambda f: full[f], policy, detector, local_zooms):
        found[frame].append(detection)
    again = _Looks(detector, "recheck")
    for frame in range(full.shape[0]):
        _recheck(full[frame], frame, known(frame), again, policy)
    for frame, detection in again.run():
        found[frame].append(detection)
    if "turned" in policy.renderings:
        for frame in range(full.shape[0]):
            found[frame].extend(_turned_read(full[frame], known(frame), policy, detector))
    closer = _Looks(_marks(detector))
    for frame in range(full.shape[0]):
        _closer_look(full[frame], frame, [d.box for d in found[frame]], closer)
    for frame, detection in closer.run():
        found[frame].append(detection)
    return found


def _identical(a: np.ndarray, b: np.ndarray, box: Box) -> bool:
    """Grey images ``a`` and ``b`` hold the same pixels inside ``box`` (to IDENTICAL levels): what
    was found there in one was found in the other."""
    x0, y0, x1, y1 = box
    return int(cv2.absdiff(a[y0:y1, x0:x1], b[y0:y1, x0:x1]).max(initial=0)) <= IDENTICAL


def _row(box: Box, width: int) -> Box:
    """The image's row of ``box``: its height, the image's width."""
    return 0, box[1], width, box[3]


def _same_content(a: np.ndarray, b: np.ndarray, box: Box) -> bool:
    """Grey images ``a`` and ``b`` show the same thing inside ``box``."""
    x0, y0, x1, y1 = box
    differ = cv2.absdiff(a[y0:y1, x0:x1], b[y0:y1, x0:x1]) > TOLERANCE
    return differ.size == 0 or float(np.mean(differ)) <= CHANGED


def _areas_read(image: np.ndarray, areas: _Looks, policy: Policy, detector: Detector) -> list[Detection]:
    """What the looks at large changed ``areas`` of ``image`` find, each read as a single image is
    (``_whole``): boxes that [-1, 1] alone finds there and that are doubtful (squarish, coloured)
    are kept only where DB's training normalisation finds them too. Unconfirmed, a later image of a
    layout got a box on a shoulder of a bone scan (NM, JPEG-LL.dcm after its JPEG 2000 twin) that
    the image alone does not get."""
    found = [d.box for _, d in areas.run()]
    if getattr(detector, "trained", False):
        found = _confirmed([image], [found], policy, detector, trained=True)[0]
    return [Detection(box, _name(detector, areas.suffix), "full") for box in sorted(set(found))]


def _changed_unread(box: Box, faint: np.ndarray, known: Sequence[Box]) -> bool:
    """``faint``, the enhanced difference from the reference, shows a change inside ``box`` (more
    than IDENTICAL), and ``known`` leaves less than LINE_COVERED of it covered."""
    x0, y0, x1, y1 = box
    return _share_covered(box, known) < LINE_COVERED and int(faint[y0:y1, x0:x1].max(initial=0)) > IDENTICAL


def _changed_faint_lines(enhanced: np.ndarray, faint: np.ndarray, known: Sequence[Box],
                         moving: np.ndarray) -> list[Box]:
    """Lines of strokes on flat ground in the ``enhanced`` rendering (``text_lines(on_flat=True)``)
    outside the ``moving`` image (changed areas, looked at whole) where ``faint``, the enhanced
    difference from the reference, shows a change (more than IDENTICAL), and that ``known``
    leaves uncovered: a label a few grey levels off black differs from the reference by less than
    TOLERANCE, and its enhanced difference breaks into pieces that ``strong_places`` finds only
    in part (an 18 px label from x 25 to 251 gave places at 26-51 and 250-257). Lines are looked
    for only where that difference passes TOLERANCE in STRONG_PIXELS pixels outside the moving
    image (on color3d's series it stays below 15: CLAHE's tiles shift with the sector)."""
    changed = (faint > TOLERANCE) & ~moving
    if np.count_nonzero(changed) < STRONG_PIXELS:
        return []
    return [line for line in text_lines(enhanced, on_flat=True)
            if not moving[line[1]:line[3], line[0]:line[2]].any() and _changed_unread(line, faint, known)]


def _changed_panels(image: np.ndarray, faint: np.ndarray, known: Sequence[Box], moved: Sequence[Box]) -> list[Box]:
    """Flat panels of ``image`` (``panels``) outside the ``moved`` image regions where ``faint``,
    the enhanced difference from the reference, shows a change and that ``known`` leaves
    uncovered: a banner new in a later image, or one whose label changed, looked at alone in
    "enhanced" as a single image's panels are (series sweep: banner labels 575 -> 590 of 594)."""
    return [panel for panel in panels(image) if not _covered(panel, moved) and _changed_unread(panel, faint, known)]


def _recoloured(image: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Pixels of ``image`` whose channels differ from ``before`` by more than TOLERANCE / 2: the
    only places where coloured type can be new (a device's coloured icons, the same in every
    file of a layout, are left out: looking for lines among them cost a series file 1.2x)."""
    red, green, blue = cv2.split(cv2.absdiff(image, before))
    return cv2.max(cv2.max(red, green), blue) > TOLERANCE // 2


def _new_colour(image: np.ndarray, sparse_layer: np.ndarray) -> bool:
    """Some pixel of every second row and column of ``image`` is coloured (``coloured_pixels``) where
    its colour is not that of ``sparse_layer``, the static layer taken so (``_recoloured``): a
    quarter of the cost of finding every such pixel, which a frame without new colour (most
    frames of a clip) is spared. A line of type has dozens of coloured pixels, a quarter of
    them are looked at here."""
    sparse = _sparse(image)
    return bool((_recoloured(sparse, sparse_layer) & coloured_pixels(sparse)).any())


def _sparse(image: np.ndarray) -> np.ndarray:
    """Every second row and column of ``image`` (OpenCV's nearest-neighbour halving: a fifth of
    the cost of numpy's strided copy)."""
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_NEAREST)


def _against(reference: Reference, image: np.ndarray, window: np.ndarray | None, policy: Policy,
             detector: Detector, image_regions: Sequence[Box] = ()) -> list[Detection]:
    """Detections on a single image of a layout seen before.

    The reference's boxes carry over where the image shows the same; where it does not, their
    place is looked at again, in "full" and, for a box "local" or "smooth" found, in that rendering
    too (large type over tissue gets no box in "full"). OCR looks only at crops of what differs:
    large changed areas whole (read as a single image is, ``_areas_read``), lines of faint strokes
    on flat ground that changed by less than TOLERANCE (``_changed_faint_lines``), flat panels that
    changed, alone in "enhanced" (``_changed_panels``),
    text-sized places (also those only the enhanced rendering shows: faint text) in the full, the
    enhanced and the local rendering (changed areas outside the moving image in "local" too; its
    boxes kept where faint, ``_local_line``: a label 25 grey levels off its banner is invisible to
    DB in "full"); a place faint on flat ground
    (``faint_in``) that the look leaves uncovered is looked at again with DB's training
    normalisation, as a single image's lines are (``_Looks.again``; in tissue that second look
    finds texture, so other places do without it). A calibrated image region (ultrasound) in
    which anything changed counts as one changed area, not as many places where the speckle
    moved, and is not read whole: text there forms lines of strokes, and lines left unread
    where the image changed get the closer look a single image gives them (``_recheck``, and
    ``_turned_read`` for vertical ones; labels
    over the sector of a cardiac clip, 8-18 px: the same 72 of 90 as when the region was read
    whole, benchmarks/recall_sweep.py; a word of one or two letters, or a lone mark, there is
    not looked for).
    Where the image differs from the reference, lines of dark pixels on bright ground that the
    looks so far leave uncovered have the "ink" rendering read whole (``_ink_read``: dark type
    over bright tissue, which no crop of "full" reads).
    A box that only an extra rendering found is looked at again in that rendering (its whole row,
    the context the lines that found it had), unless the pixels under it are those of the
    reference: such finds are the least certain, and carrying one over where the image only looks
    alike (within TOLERANCE) would blank a text-free image; once confirmed, it carries over as it
    was (the same image gives the same output whether it came first or not), with what the look
    found over it (a longer label a few grey levels off black differs by less than TOLERANCE).
    Large type new over tissue is read by the lines of its "smooth" rendering (``_smooth_lines``).
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    before = reference.grey
    found: list[Detection] = []
    zoom = _crop_zoom(image, policy, detector)
    looks = _Looks(detector, "layout")
    checks = _Looks(detector, "layout")
    makers = {"full": lambda: image, "enhanced": lambda: enhance(image), "local": lambda: localise(image),
              "window": lambda: window, "dark": lambda: darken(image), "smooth": lambda: smooth(image)}
    rendered = functools.cache(lambda name: makers[name]() if name in makers else None)  # made when needed
    plain = [d.box for d in reference.detections if d.rendering == "full"]
    local = "local" in policy.renderings  # faint labels: looked for in "local" too, boxes kept where faint
    checked: list[Detection] = []
    for detection in reference.detections:
        again = rendered(detection.rendering)
        if not _same_content(grey, before, detection.box):
            looks.add(0, image, detection.box, zoom, wide=True)
            if detection.rendering in ("local", "smooth") and detection.rendering in policy.renderings:
                looks.add(0, rendered(detection.rendering), detection.box, zoom, wide=True,
                          rendering=detection.rendering)
        elif (detection.rendering == "full" or again is None or _covered(detection.box, plain)
              or _identical(grey, before, detection.box)):
            found.append(Detection(detection.box, CARRIED, detection.rendering))
        else:
            # the frame slot carries the box's index in ``checked``: a single image has one frame;
            # the whole row is looked at, as the lines that found it were (with their neighbours)
            checks.add(len(checked), again, _row(detection.box, image.shape[1]), zoom, rendering=detection.rendering)
            checked.append(detection)
    seen: dict[int, list[Detection]] = {}
    for index, detection in checks.run():
        seen.setdefault(index, []).append(detection)
    for index, detection in enumerate(checked):
        now = [d for d in seen.get(index, []) if overlaps(d.box, detection.box)]
        if _covered(detection.box, [d.box for d in now]):
            # confirmed: the box carries over, with what the look finds over it now (a label that
            # differs from the reference's by a few grey levels may be longer than it was)
            found.append(Detection(detection.box, CARRIED, detection.rendering))
            found.extend(now)
    difference = cv2.absdiff(grey, before)
    changed = difference > TOLERANCE
    area = image_area(changed)
    moved = [r for r in image_regions if changed[r[1]:r[3], r[0]:r[2]].any()]  # calibrated images that changed
    for x0, y0, x1, y1 in moved:
        area[y0:y1, x0:x1] = True
    areas = _Looks(detector, "layout")
    wholes = [box for box in components(area, (1, 1)) if not _covered(box, moved)]  # not the moving image:
    for box in wholes:  # that is read by its lines of strokes (_recheck), not whole
        areas.add(0, image, box, _whole_zoom(image, policy), margin=AREA_MARGIN)
        if local and not any(overlaps(box, region) for region in image_regions):  # not the moving image
            looks.add(0, rendered("local"), box, _whole_zoom(image, policy), margin=AREA_MARGIN, rendering="local")
    enhanced = cv2.cvtColor(rendered("enhanced"), cv2.COLOR_RGB2GRAY)
    faint = cv2.absdiff(enhanced, reference.enhanced_grey)
    faint_places = _Looks(detector, "layout", again=True)
    places = sorted({*strong_places(difference, area), *strong_places(faint, area)})
    for place in places:
        queue = faint_places if faint_in(image, place) else looks
        queue.add(0, image, place, zoom, wide=True)
        queue.add(0, rendered("enhanced"), place, zoom, wide=True, rendering="enhanced")
        if local:
            queue.add(0, rendered("local"), place, zoom, wide=True, rendering="local")
    found.extend(d for _, d in looks.run() + faint_places.run() if _place_kept(image, d))
    found.extend(_areas_read(image, areas, policy, detector))
    if "smooth" in policy.renderings and wholes:  # large type over tissue, as a single image's pass finds it
        found.extend(_smooth_areas(image, wholes, rendered("smooth"), [d.box for d in found], policy, detector))
    faint_lines = _Looks(detector, "layout", again=True)
    known = [d.box for d in found]
    for line in _changed_faint_lines(rendered("enhanced"), faint, known, area):
        for name in ("full", "enhanced", "local") if local else ("full", "enhanced"):
            faint_lines.add(0, rendered(name), line, zoom, wide=True, rendering=name)
    found.extend(d for _, d in faint_lines.run() if _place_kept(image, d))
    if wholes or places:  # something changed outside the moving image: a banner may be new
        changed_panels = _changed_panels(image, faint, known, moved)
        found.extend(d for _, d in _read_panels([(0, image, rendered("enhanced"), p) for p in changed_panels],
                                                zoom, detector, "layout"))
    again = _Looks(detector, "recheck")
    differs = lambda box: not _same_content(grey, before, box)  # noqa: E731
    _recheck(image, 0, [d.box for d in found], again, policy, differs,
             _recoloured(image, reference.image) if "colour" in policy.renderings else None)
    found.extend(d for _, d in again.run())
    if "smooth" in policy.renderings and (moved or places):
        found.extend(_smooth_lines(image, rendered("smooth"), [d.box for d in found], policy, detector, differs))
    if "turned" in policy.renderings:
        found.extend(_turned_read(image, [d.box for d in found], policy, detector, differs))
    if "ink" in policy.renderings:
        found.extend(_ink_read(image, [d.box for d in found], differs, detector))
    closer = _Looks(_marks(detector))
    # a mark that looks as it did in the reference had its closer look there (what it found, if
    # anything, carried over above); in the moving image lone marks are speckle grains on dark
    # ground, and words of one or two letters there are not looked for (see above)
    _closer_look(image, 0, [d.box for d in found], closer,
                 lambda box: not _covered(box, moved) and differs(box))
    found.extend(d for _, d in closer.run())
    return found


def _smooth_areas(image: np.ndarray, wholes: Sequence[Box], smoothed: np.ndarray, known: Sequence[Box],
                  policy: Policy, detector: Detector) -> list[Detection]:
    """What the "smooth" rendering of a later image shows in its changed areas (``wholes``), read
    as a single image's is: each area at half size, the lines ``known`` does not read looked at
    again along the line close up (``_closer_at_smooth``)."""
    coarse = _Looks(detector, "layout")
    for box in wholes:
        coarse.add(0, smoothed, box, _whole_zoom(image, policy) * WHOLE_SCALE["smooth"], margin=AREA_MARGIN,
                   rendering="smooth")
    lines = [(frame, d) for frame, d in coarse.run() if _kept("smooth", image, known, d.box)]
    return [d for _, d in _closer_at_smooth(lines, lambda _: smoothed, lambda _: image, lambda _: known, policy,
                                            detector)]


def _smooth_lines(image: np.ndarray, smoothed: np.ndarray, known: Sequence[Box], policy: Policy,
                  detector: Detector, wanted: Callable[[Box], bool]) -> list[Detection]:
    """Large type over the tissue of a later image: the lines of strokes of the "smooth" rendering
    at half size (WHOLE_SCALE: large type keeps its strokes there, speckle is gone) in which
    ``known`` leaves a letter's width (``_letter``) unread and that ``wanted`` accepts (where the
    image changed), looked at along the line close up as ``_closer_at_smooth`` does; a box of that
    look is kept where it reads a letter's width more of the line. Such a label changes the image
    in a text-sized place, whose looks in "full", "enhanced" and "local" give it no box or miss a
    letter where a pane's frame crosses it, or inside a calibrated region, which is read by its
    lines of strokes, and large type over tissue forms none at full size (its strokes join the
    speckle's); a single image finds it in its whole "smooth" pass (series sweep, "large")."""
    scale = WHOLE_SCALE["smooth"]
    grey = cv2.resize(smoothed[..., 0], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    lines = [tuple(round(v / scale) for v in line) for line in lines_of(unruled(strokes(grey)))]
    lines = [line for line in lines if text_shaped(line) and line[3] - line[1] >= LARGE_LINE
             and _unread_run(line, known) >= _letter(line) and wanted(line)]
    looks = _Looks(detector, "smooth")
    for index, line in enumerate(lines):  # the frame slot carries the line's index
        looks.add(index, smoothed, line, _whole_zoom(image, policy) * _zoom_to(line, RECHECK_HEIGHT), wide=True,
                  rendering="smooth")
    read = [np.count_nonzero(_columns_read(line, known)) for line in lines]
    return [d for index, d in looks.run() if _wide(d.box)
            and np.count_nonzero(_columns_read(lines[index], [*known, d.box])) - read[index] >= _letter(lines[index])]


def _letter(line: Box) -> int:
    """About the width of a letter of the type that forms ``line`` (a quarter of its height): the
    least run of its columns that counts as unread in ``_smooth_lines``."""
    return max(1, (line[3] - line[1]) // 4)


def _place_kept(image: np.ndarray, detection: Detection) -> bool:
    """A box a later image's look at a place found is kept: from "local", a line faint in ``image``
    (``_local_line``); from "smooth", a line (``_wide``), as the single image's pass keeps them."""
    if detection.rendering == "local":
        return _local_line(image, detection.box)
    return detection.rendering != "smooth" or _wide(detection.box)


def _clip(full: np.ndarray, window: np.ndarray | None, policy: Policy, detector: Detector,
          image_regions: Sequence[Box], grey: np.ndarray | None) -> list[list[Detection]]:
    count = full.shape[0]
    zoom = _crop_zoom(full[0], policy, detector)
    motion = analyse(full, grey)
    keys = key_frames(count, policy.extra_rendering_frames)
    # the static layer is read as one image is, with "local" and the closer looks ("static" in the
    # sweep: 487 of 594 banner labels against 402 when CRAFT read it whole, at half the cost), and
    # since its cost is shared by every frame, "local" magnified too (505 -> 565); the key frames
    # add what only their window, enhanced or dark rendering shows ("smooth", large type over the
    # image, is read on the layer: the key frames' large type is that of the layer or of a moment)
    extra = tuple(r for r in policy.renderings if r not in ("full", "local", "smooth"))
    static_image = static_layer(motion)
    found: list[list[Detection]] = [[] for _ in range(count)]
    looks = _Looks(detector, "motion")
    # (vertical lines keep their "turned": they are joined and padded along their columns)
    static = [Detection(d.box, d.detector, d.rendering if d.rendering == "turned" else "static")
              for d in _single(static_image[None], None, policy, detector, STATIC_LOCAL_ZOOMS)[0]]
    # the layer is grey (a median of luminance); coloured type burned into every frame is looked
    # for in its colours, which a frame holds where the pixels never change
    colour, coloured_layer = _Looks(detector, "recheck"), static_layer(motion, full[keys[0]])
    _colour_looks(coloured_layer, 0, [d.box for d in static], colour, policy)
    static += [Detection(d.box, d.detector, "static") for _, d in colour.run()]
    static_boxes = [d.box for d in static]
    key_views = views(full[keys], None if window is None else window[keys], extra, len(keys))
    key_found: dict[int, list[Detection]] = {}
    key_image = lambda i: full[keys[i]]  # noqa: E731
    for index, detection in _extra_renderings(key_views, lambda _: static_boxes, key_image, policy, detector):
        key_found.setdefault(keys[index], []).append(detection)
    for frame in range(count):
        found[frame].extend(static)
    for key, detections in key_found.items():
        for detection in detections:
            if _covered(detection.box, static_boxes):
                continue
            for frame in range(count):
                if frame == key or _same_content(motion.grey[frame], motion.grey[key], detection.box):
                    found[frame].append(detection)
                else:
                    looks.add(frame, full[frame], detection.box, zoom)
    moving, places, faint_at = appearing(motion, image_regions)
    _text_over_image(full, motion, moving, found, zoom, detector)
    # coloured type shown for a moment: blue or dark red over tissue forms no grey strokes of its
    # own; it is looked for in every frame among the pixels whose colour is not the static layer's
    sparse_layer = _sparse(coloured_layer)
    for frame in range(count) if "colour" in policy.renderings else ():
        image = full[frame]
        if _new_colour(image, sparse_layer):
            _colour_looks(image, frame, [d.box for d in found[frame]], looks, policy,
                          where=_recoloured(image, coloured_layer))
    changes = _Looks(detector, "motion")
    for place in changing_places(motion, moving):
        for frame in key_frames(count, SAMPLES):
            changes.add(frame, full[frame], place, zoom, wide=True)
    for box in {d.box for _, d in changes.run()}:
        for frame in range(count):
            found[frame].append(Detection(box, _name(detector, "motion"), "change"))
    whole: list[int] = []
    faint = _Looks(detector, "motion", again=True)
    for frame in range(count):
        known = [d.box for d in found[frame]]
        new = [place for place in places[frame] if not _covered(place, known)]
        if len(new) > MAX_PLACES:
            whole.append(frame)  # read whole in "full": its faint places still get their own looks
        for place in new if len(new) <= MAX_PLACES else ():
            _place_looks(full[frame], frame, place, zoom, looks, faint, policy, faint_in(full[frame], place))
        for place in faint_at[frame]:
            if not _covered(place, known) and not any(_covered(place, [other]) for other in new):
                _place_looks(full[frame], frame, place, zoom, looks, faint, policy, True)
    for frame, boxes in zip(whole, _run_once(detector, [full[f] for f in whole])):
        found[frame].extend(Detection(box, _name(detector), "full") for box in boxes)
    for frame, detection in looks.run() + faint.run():
        if detection.rendering != "local" or _local_line(full[frame], detection.box):
            found[frame].append(detection)
    return found


def _place_looks(image: np.ndarray, frame: int, place: Box, zoom: float, looks: _Looks, faint: _Looks,
                 policy: Policy, is_faint: bool) -> None:
    """Queue the looks at a text-sized ``place`` where a frame of a clip differs from the median:
    a crop of the full rendering; where the place ``is_faint`` (a label a few grey levels off
    black or off its banner, shown for a while), in ``faint`` (looked at again with DB's
    training normalisation), magnified as unread lines are, and also that crop enhanced alone
    and, where the policy asks for "local", made local alone (the renderings that read a single
    image's faint labels)."""
    if not is_faint:
        looks.add(frame, image, place, zoom, wide=True)
        return
    closer = _whole_zoom(image, policy) * _zoom_to(place, RECHECK_HEIGHT)
    faint.add(frame, image, place, closer, wide=True)
    faint.add(frame, image, place, closer, wide=True, rendering="enhanced", render=enhance)
    if "local" in policy.renderings:
        faint.add(frame, image, place, closer, wide=True, rendering="local", render=localise)


def _text_over_image(full: np.ndarray, motion: Motion, moving: np.ndarray, found: list[list[Detection]],
                     zoom: float, detector: Detector) -> None:
    """Add what OCR reads in lines of new strokes over the moving image (``motion.new_lines``).
    Each run of a lingering line (the same strokes at the same place in consecutive frames) is
    looked at once, in its first frame, and what is found there is blanked in every frame of the
    run; a line shown in one frame only (flashing) is looked at in that frame."""
    looks = _Looks(detector, "motion")
    lines = new_lines(motion, moving)
    runs: dict[tuple[int, int], list[int]] = {}  # (frame, line) looked at -> the later frames of its run
    heads: list[list[tuple[int, int]]] = []  # per frame, per line: the (frame, line) its run starts at
    for frame, frame_lines in enumerate(lines.lingering):
        known = [d.box for d in found[frame]]
        heads.append([])
        for index, line in enumerate(frame_lines):
            head = heads[frame - 1][line.after] if line.after >= 0 else (frame, index)
            heads[frame].append(head)
            if head in runs:
                runs[head].append(frame)
            elif head == (frame, index) and not _covered(line.box, known):
                looks.add(frame, full[frame], line.box, zoom, margin=AREA_MARGIN)
                runs[head] = []
    for frame, detection in looks.run():
        found[frame].append(detection)
        for (start, index), later in runs.items():
            if start == frame and overlaps(detection.box, lines.lingering[start][index].box):
                for other in later:
                    found[other].append(detection)
    # the edges of a label shown for a while flash too, where the image under them changes; a line
    # partly covered (by a box of its first word) is still looked at, as lines left unread are
    for frame, boxes in enumerate(lines.flashing):
        for box in boxes:
            if _share_covered(box, [d.box for d in found[frame]]) < LINE_COVERED:
                looks.add(frame, full[frame], box, zoom, wide=True)  # part of it may be over still image
    for frame, detection in looks.run():
        found[frame].append(detection)


def find_text(full: np.ndarray, window: np.ndarray | None, policy: Policy, detector: Detector,
              image_regions: Sequence[Box] = (), reference: Reference | None = None,
              grey: np.ndarray | None = None) -> list[list[Detection]]:
    """Detections per frame, from every rendering the policy asks for plus the closer looks.

    ``image_regions`` (ultrasound calibration) tell a clip where its moving image is: text that
    appears there in some frames only is found in the key frame or by the proposer, not looked
    for frame by frame; in a series they are the area that changes from image to image.
    ``reference`` is an image of the same layout seen before: a single image
    is then compared with it instead of getting the full OCR pass. ``full`` may be any array-like
    of RGB frames indexed by frame (a lazy rendering); ``grey``, when given, is its luminance.
    """
    if full.shape[0] == 1 and reference is not None and reference.image.shape == full[0].shape:
        return [_against(reference, full[0], None if window is None else window[0], policy, detector,
                         image_regions)]
    if full.shape[0] == 1 or "full" not in policy.renderings:
        return _single(full, window, policy, detector)
    return _clip(full, window, policy, detector, image_regions, grey)
