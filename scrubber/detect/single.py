"""Find text in a single image: OCR on the "full" rendering; "local" (faint labels on grey banners) is
looked at whole, and each line it shows again close up; each other extra rendering (window,
enhanced, dark) is looked at where it shows lines of strokes on flat ground that OCR on "full" left
uncovered (crops, batched; "enhanced" also at flat panels, banners whose label is too faint for
strokes), or whole when such lines span much of the image (a busy screen); lines of strokes on any
ground that have the shape of a line of text and that OCR left uncovered (small type over tissue)
are looked at again, magnified; then a closer look, by the detector's ``marks`` (CRAFT), where the
proposer sees glyph-like marks that OCR left uncovered.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from ..policy import Policy
from . import buckets
from .blobs import components_with_stats
from .boxes import Box, Detection, overlaps, shifted
from .looks import (LINE_COVERED, Looks, crop_bounds, crop_zoom, detector_name, is_covered, line_like, marks_detector,
                    run_once, share_covered, whole_zoom)
from .panel_ink import reach_panel_ink
from .proposer import dark_on_bright, panels, text_lines
from .registry import Detector
from .renderings import INK_GAIN, View, coloured, enhance, faint_in, ink, panel_alone, standing_out, views
from .unread import closer_look, closer_zoom, line_read, recheck, turned_read

PANEL_MARGIN = 8  # pixels around a flat panel (banner) looked at alone in the enhanced rendering
REGION_MARGIN = 2  # pixels around a merged region of lines (each line already has its margins)
WHOLE_SHARE = 0.35  # crops of an extra rendering spanning more of the image than this: look at it whole
WHOLE = ("local", "ink", "smooth")  # extra renderings looked at whole: what they reveal is too faint (local) or
# sits on too busy a ground in the full rendering (ink: dark type over bright speckle; smooth: large type over
# tissue) for text_lines to find
WHOLE_SCALE = {"smooth": 0.5}  # ... at this share of the whole pass's magnification (large type is large
# enough at half size, and a quarter of the pixels costs a quarter)
INK_GROUND = 256 // INK_GAIN  # an "ink" box is kept only where its median grey in the full rendering is at
# least this: dark type sits on bright ground (a bright trace or label on black is for "full" to read)


def local_line(original: np.ndarray, box: Box) -> bool:
    """A box found in "local" is a line of text: wide (DB's squarish boxes there are edges and
    spots of anatomy after local contrast; a lone faint character is given up) and faint in
    ``original``, the full rendering (``faint_in``)."""
    return line_like(box) and faint_in(original, box)


def _line_regions(image: np.ndarray, lines: Sequence[Box]) -> tuple[list[Box], float]:
    """Regions to look at for ``lines`` (each widened as ``crop_of(..., wide=True)`` widens it, the
    overlapping ones merged: one larger crop costs less than many small ones), and the share of
    the image they cover."""
    covered = np.zeros(image.shape[:2], np.uint8)
    for box in lines:
        left, top, right, bottom = crop_bounds(image.shape, box, wide=True)
        covered[top:bottom, left:right] = 1
    count, _, stats = components_with_stats(covered, 4)
    regions = [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, _ in stats[1:count]]
    return regions, float(covered.mean())


def extra_renderings(todo: Sequence[View], known: Callable[[int], Sequence[Box]],
                     original: Callable[[int], np.ndarray], policy: Policy,
                     detector: Detector, local_zooms: Sequence[float] = ()) -> list[tuple[int, Detection]]:
    """(view.frame, detection) from extra renderings (window, enhanced, local, dark, ink), each looked at
    where it can add to ``known(view.frame)``, the boxes OCR found on ``original(view.frame)``, the
    full rendering.

    "local" is looked at whole (what it reveals is too faint for ``text_lines`` in any other
    rendering; also magnified by each of ``local_zooms``, where the caller can afford it: 8 px
    type that the whole pass at 1x misses); of its boxes, the lines faint in the full rendering are
    kept (``local_line``), and each is looked at again close up (``_closer_at_local``). "ink" is
    looked at whole too (dark type over bright speckle: in the full rendering the speckle's strokes
    drown the type's), where it shows lines of dark pixels on bright ground that ``known``
    leaves uncovered (``_ink_lines``); of its boxes, lines on bright ground that ``known``
    leaves uncovered are kept (``kept_box``).

    Text that only an extra rendering reveals (a faint label, text outside the display window)
    forms lines of strokes on flat ground there (``text_lines(on_flat=True)``: in tissue such a
    rendering shows texture); OCR looks at crops of those lines that ``known`` leaves
    uncovered, padded along the line, overlapping crops merged, and, in "enhanced", at each flat
    panel of a line's size that ``known`` leaves uncovered, alone (``panels``: a label 8 grey
    levels off its banner through JPEG forms no strokes; crops merged with bright lines nearby
    did not read it, the banner's own crop does); a crop the look leaves uncovered is
    looked at again with DB's training normalisation (``Looks.again``: faint labels 8 grey levels
    off their ground, after JPEG, read whole where [-1, 1] reads three quarters). A rendering whose
    uncovered lines span more than WHOLE_SHARE of the image is looked at whole.
    """
    looks = Looks(detector, "lines", again=True)
    whole: list[View] = []
    banners: list[tuple[int, np.ndarray, np.ndarray, Box]] = []
    for view in todo:
        if view.rendering == "ink" and not _ink_lines(original(view.frame), view.image, known(view.frame)):
            continue  # no dark type on bright ground can be left unread: a page, a screenshot
        if view.rendering in WHOLE:
            whole.append(view)
            continue
        lines = [b for b in text_lines(view.image, on_flat=True) if share_covered(b, known(view.frame)) < LINE_COVERED]
        regions, share = _line_regions(view.image, lines)
        if share > WHOLE_SHARE:
            whole.append(view)
            continue
        for box in regions:
            looks.add(view.frame, view.image, box, crop_zoom(view.image, policy, detector),
                      margin=REGION_MARGIN, rendering=view.rendering)
        if view.rendering == "enhanced":
            banners += [(view.frame, original(view.frame), view.image, panel) for panel in panels(original(view.frame))
                        if share_covered(panel, known(view.frame)) < LINE_COVERED]
    found = _whole_views(detector, whole, policy)
    local = [index for index, view in enumerate(whole) if view.rendering == "local"]
    for zoom in local_zooms:
        magnified = buckets.look(detector, [whole[i].image for i in local],
                                 [whole_zoom(whole[i].image, policy) * zoom for i in local])
        for index, boxes in zip(local, magnified):
            found[index] = [*found[index], *boxes]
    out = [(view.frame, Detection(box, detector_name(detector), view.rendering))
           for view, boxes in zip(whole, found) for box in boxes
           if kept_box(view.rendering, original(view.frame), known(view.frame), box)]
    large = [(frame, d) for frame, d in out if d.rendering == "smooth"]
    out = [(frame, d) for frame, d in out if d.rendering != "smooth"]
    zoom = crop_zoom(todo[0].image, policy, detector) if todo else 1.0
    return (out + _closer_at_local(out, whole, original, policy, detector)
            + closer_at_smooth(large, _rendering_of(whole, "smooth"), original, known, policy, detector)
            + looks.run()
            + read_panels(banners, zoom, detector, "lines"))


def _whole_views(detector: Detector, whole: Sequence[View], policy: Policy) -> list[list[Box]]:
    """Boxes per view looked at whole, each rendering at its share of the whole pass's
    magnification (WHOLE_SCALE)."""
    found: list[list[Box]] = [[] for _ in whole]
    scales: dict[float, list[int]] = {}
    for index, view in enumerate(whole):
        scales.setdefault(WHOLE_SCALE.get(view.rendering, 1.0), []).append(index)
    for scale, indices in scales.items():
        images = [whole[i].image for i in indices]
        kwargs = {} if scale == 1.0 else {"magnify": whole_zoom(images[0], policy) * scale}
        for index, boxes in zip(indices, run_once(detector, images, **kwargs)):
            found[index] = boxes
    return found


def read_panels(todo: Sequence[tuple[int, np.ndarray, np.ndarray, Box]], zoom: float, detector: Detector,
                suffix: str) -> list[tuple[int, Detection]]:
    """(frame, detection) from looks at flat panels (``panels``), each given as (frame, the full
    rendering, the enhanced one, panel): first a crop of the enhanced image, then, for a panel
    that look gives no box at all, the crop of the full rendering enhanced alone. CLAHE's tiles
    over a banner amid tissue (a clip's sector) are set by the tissue and lift the banner's faint
    label little; alone, the crop's own tiles lift it (sweep, "static": 8 px labels 8 levels off
    a banner over color3d's sector). Not always alone: there DB's boxes of a faint line on a
    plain bar came out wider, and a box that reaches an MCU border blanks the MCU beyond too.
    A panel neither look gives a box is looked at stretched by its own grey range on black
    (``panel_alone``: the same labels through JPEG q85, which both looks miss); of that look's
    boxes those whose pixels stand out from their ground are kept, cut to the rows where they do
    (``standing_out``): on a blank panel it is JPEG's grain that is stretched."""
    first = Looks(detector, suffix, again=True)
    for frame, _, enhanced, panel in todo:
        first.add(frame, enhanced, panel, zoom, margin=PANEL_MARGIN, rendering="enhanced")
    found = first.run()

    def unread() -> list[tuple[int, np.ndarray, Box]]:
        """(frame, full rendering, panel) of the panels that no box found so far overlaps."""
        return [(frame, full, panel) for frame, full, _, panel in todo
                if not any(seen == frame and overlaps(d.box, panel) for seen, d in found)]

    alone = Looks(detector, suffix, again=True)
    for frame, full, panel in unread():
        alone.add(frame, full, panel, zoom, margin=PANEL_MARGIN, rendering="enhanced", render=enhance)
    found += alone.run()
    stretched = Looks(detector, suffix)
    fulls = {frame: full for frame, full, _, _ in todo}
    for frame, full, panel in unread():
        left, top, _, _ = crop_bounds(full.shape, panel, margin=PANEL_MARGIN)
        stretched.add(frame, full, panel, zoom, margin=PANEL_MARGIN, rendering="enhanced",
                      render=functools.partial(panel_alone, inner=shifted(panel, -left, -top)))
    return found + [(frame, Detection(cut, d.detector, d.rendering)) for frame, d in stretched.run()
                    if (cut := standing_out(fulls[frame], d.box)) is not None]


def kept_box(rendering: str, original: np.ndarray, known: Sequence[Box], box: Box) -> bool:
    """A box found on a rendering looked at whole is kept: from "local", a line faint in the full
    rendering ``original`` (``local_line``); from "ink", a line (``line_like``) on bright ground
    (``_on_bright``) that ``known``, what the full rendering gave, leaves less than LINE_COVERED
    covered; from "smooth", a line that ``known`` does not read (``line_read``); from any other, every
    box."""
    if rendering == "local":
        return local_line(original, box)
    if rendering == "ink":
        return line_like(box) and share_covered(box, known) < LINE_COVERED and _on_bright(original, box)
    if rendering == "smooth":
        return line_like(box) and not line_read(box, known)
    return True


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


def ink_read(image: np.ndarray, known: Sequence[Box], wanted: Callable[[Box], bool],
             detector: Detector) -> list[Detection]:
    """What DB reads in the "ink" rendering of ``image``, whole, as a single image's pass reads it
    (the same image gives the same boxes whether it comes first in its layout or not), where that
    rendering shows lines of dark pixels on bright ground that ``known`` leaves uncovered
    (``_ink_lines``) and ``wanted`` accepts (a later image of a layout: where it differs from
    the reference); its boxes kept as ``kept_box`` keeps them."""
    shown = ink(image)
    if not any(wanted(line) for line in _ink_lines(image, shown, known)):
        return []
    return [Detection(box, detector_name(detector), "ink") for box in detector([shown])[0]
            if kept_box("ink", image, known, box)]


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
    the lines faint in the full rendering are kept, as in the whole pass (``local_line``)."""
    local = _rendering_of(whole, "local")
    looks = Looks(detector, "local")
    for frame, detection in found:
        if detection.rendering == "local":
            image = local(frame)
            zoom = closer_zoom(image, detection.box, policy)
            looks.add(frame, image, detection.box, zoom, rendering="local")
    return [(frame, d) for frame, d in looks.run() if local_line(original(frame), d.box)]


def closer_at_smooth(found: Sequence[tuple[int, Detection]], smoothed: Callable[[int], np.ndarray],
                     original: Callable[[int], np.ndarray], known: Callable[[int], Sequence[Box]],
                     policy: Policy, detector: Detector) -> list[tuple[int, Detection]]:
    """Each line ``found`` on the "smooth" rendering looked at whole (at half size), looked at again
    as a crop of that rendering reaching along the line, magnified to about RECHECK_HEIGHT: at
    half size DB often reads only part of a large label (the "4455" of "ID 4455" where a thin
    white frame crosses its "ID") in a box that reaches well above and below it; along the line
    and close up it reads the line to its ends, in boxes that fit it. Of those, the lines the
    full rendering left unread are kept (``kept_box``); a box of the whole pass stays only where the
    closer look found nothing over it (its ends may reach past the text, over speckle beside it,
    by a word's length)."""
    looks = Looks(detector, "smooth")
    for frame, detection in found:
        image = smoothed(frame)
        zoom = closer_zoom(image, detection.box, policy)
        looks.add(frame, image, detection.box, zoom, wide=True, rendering="smooth")
    seen = looks.run()
    close = [(frame, d) for frame, d in seen if kept_box("smooth", original(frame), known(frame), d.box)]
    return close + [(frame, d) for frame, d in found
                    if not any(other == frame and overlaps(c.box, d.box) for other, c in seen)]


def _whole(detector: Detector, images: Sequence[np.ndarray], policy: Policy) -> list[list[Box]]:
    """Boxes per image of the whole-image pass of single images: with DB's training normalisation
    where the detector has one (it reads faint banner labels and dark type over tissue that
    [-1, 1] misses, benchmarks/README.md). Of its boxes, those that hold colour (it marks colour
    Doppler as text) or are not lines (``line_like``: it marks squarish spots of CT anatomy) are kept
    only where a look at their crop at [-1, 1] covers them (COVERED), together with what that look
    finds over them (``Looks``, the frame slot carrying the box's index in ``doubtful``)."""
    if not getattr(detector, "trained", False):
        return run_once(detector, images)
    found = run_once(detector, images, trained=True)
    return [sorted(set(boxes)) for boxes in confirmed(images, found, policy, detector, trained=False)]


def _doubtful(image: np.ndarray, box: Box) -> bool:
    """A box of a whole look that one normalisation alone does not vouch for: it holds colour (DB
    marks colour Doppler as text) or is not a line (``line_like``: DB marks squarish spots of CT and
    NM anatomy)."""
    return not line_like(box) or coloured(image[box[1]:box[3], box[0]:box[2]])


def confirmed(images: Sequence[np.ndarray], found: Sequence[Sequence[Box]], policy: Policy,
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
    checks = Looks(detector, trained=trained)
    for slot, (index, box) in enumerate(doubtful):
        checks.add(slot, images[index], box, whole_zoom(images[index], policy))
    seen: dict[int, list[Box]] = {}
    for slot, detection in checks.run():
        seen.setdefault(slot, []).append(detection.box)
    for slot, (index, box) in enumerate(doubtful):
        other = [box2 for box2 in seen.get(slot, []) if overlaps(box2, box)]
        if is_covered(box, other):
            out[index].extend([box, *other])
    return out


def single_images(full: np.ndarray, window: np.ndarray | None, policy: Policy,
                  detector: Detector, local_zooms: Sequence[float] = ()) -> list[list[Detection]]:
    """"full" whole (``_whole``), the extra renderings where they can add to it (every rendering
    whole when "full" is not asked for; "local" also magnified by ``local_zooms``), a closer look at
    lines of strokes left unread, then closer looks at lone marks; boxes on a banner reach to the
    ends of its label (``reach_panel_ink``)."""
    todo: list[View] = views(full, window, policy.renderings, policy.extra_rendering_frames)
    first = [v for v in todo if v.rendering == "full"]
    extra = [v for v in todo if v.rendering != "full"] if first else []
    first = first or todo
    found: list[list[Detection]] = [[] for _ in range(full.shape[0])]
    for view, boxes in zip(first, _whole(detector, [v.image for v in first], policy)):
        found[view.frame].extend(Detection(box, detector_name(detector), view.rendering) for box in boxes)
    known = lambda f: [d.box for d in found[f]]  # noqa: E731
    for frame, detection in extra_renderings(extra, known, lambda f: full[f], policy, detector, local_zooms):
        found[frame].append(detection)
    again = Looks(detector, "recheck")
    for frame in range(full.shape[0]):
        recheck(full[frame], frame, known(frame), again, policy)
    for frame, detection in again.run():
        found[frame].append(detection)
    if "turned" in policy.renderings:
        for frame in range(full.shape[0]):
            found[frame].extend(turned_read(full[frame], known(frame), policy, detector))
    closer = Looks(marks_detector(detector))
    for frame in range(full.shape[0]):
        closer_look(full[frame], frame, [d.box for d in found[frame]], closer)
    for frame, detection in closer.run():
        found[frame].append(detection)
    return [reach_panel_ink(full[frame], found[frame]) for frame in range(full.shape[0])]
