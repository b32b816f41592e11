"""Find text in a later image of a layout seen before (a series): compared with the layout's first
image (its ``Reference``), that image's boxes carry over where this one shows the same, and OCR
looks only at crops of what differs (``later_image``)."""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from ..policy import Policy
from .boxes import Box, Detection, overlaps
from .layouts import Reference
from .looks import (LINE_COVERED, Looks, crop_bounds, crop_zoom, detector_name, is_covered, line_like, marks_detector,
                    share_covered, whole_zoom)
from .motion import STRONG_PIXELS, TOLERANCE, components, image_area, strong_places
from .panel_ink import reach_panel_ink
from .proposer import lines_of, panels, strokes, text_lines, text_shaped, unruled
from .registry import Detector
from .renderings import darken, enhance, faint_in, localise, on_flat_ground, smooth, standing_out
from .single import (WHOLE_SCALE, closer_at_smooth, confirmed, ink_read, kept_box, local_line, read_panels,
                     single_images)
from .unread import closer_look, closer_zoom, columns_read, joined, longest_unread, recheck, turned_read

IDENTICAL = 2  # largest grey difference of two images at a box for them to hold the same pixels there
CHANGED = 0.02  # share of a box's pixels that may differ from the key frame for the box to carry over
AREA_MARGIN = 8  # pixels around a large changed area looked at whole
LARGE_LINE = 18  # px: the least height of a line of large type (24 px capitals form lines of 26-28; speckle
# at half size in "smooth" mostly forms lines of 10-14, which a later image does not look at)
WINDOW_MARGIN = 96  # px around what changed in a later image within which its lines of strokes are looked for:
# more than a rule's length (RULE: a rule reaching into the change is whole enough to be taken out) and a word's close
WINDOW_SHARE = 0.8  # a window wider than this share of the image is the whole image
CARRIED = "layout-reference"  # detector name of boxes carried over from a layout's first image
MANY_LOOKS = 8.0  # a later image whose looks would take in the network pixels of more whole images than this is
# read as a single image (``_looks_cost``; series sweep: later scanned pages 9.4-44, later US1 images 6.7 at most,
# a single image's whole passes about 4)


def _identical(a: np.ndarray, b: np.ndarray, box: Box) -> bool:
    """Grey images ``a`` and ``b`` hold the same pixels inside ``box`` (to IDENTICAL levels): what
    was found there in one was found in the other."""
    x0, y0, x1, y1 = box
    return int(cv2.absdiff(a[y0:y1, x0:x1], b[y0:y1, x0:x1]).max(initial=0)) <= IDENTICAL


def _row(box: Box, width: int) -> Box:
    """The image's row of ``box``: its height, the image's width."""
    return 0, box[1], width, box[3]


def changed_window(changed: np.ndarray) -> Box | None:
    """The box around the ``changed`` pixels of a later image, grown by WINDOW_MARGIN: its lines of
    strokes that hold a change lie within it, unless they reach that far past the change. None
    (the whole image) where it would cover WINDOW_SHARE of the image, or nothing changed. On later
    color3d files (their sector changed: windows about two thirds of the frame) ``recheck`` and
    ``turned_read`` take 12.6 ms instead of 14.9."""
    x, y, width, height = cv2.boundingRect(changed.astype(np.uint8))
    rows, cols = changed.shape
    window = (max(0, x - WINDOW_MARGIN), max(0, y - WINDOW_MARGIN),
              min(cols, x + width + WINDOW_MARGIN), min(rows, y + height + WINDOW_MARGIN))
    if width == 0 or (window[2] - window[0]) * (window[3] - window[1]) > WINDOW_SHARE * rows * cols:
        return None
    return window


def same_content(a: np.ndarray, b: np.ndarray, box: Box) -> bool:
    """Grey images ``a`` and ``b`` show the same thing inside ``box``."""
    x0, y0, x1, y1 = box
    differ = cv2.absdiff(a[y0:y1, x0:x1], b[y0:y1, x0:x1]) > TOLERANCE
    return differ.size == 0 or float(np.mean(differ)) <= CHANGED


def _areas_read(image: np.ndarray, areas: Looks, policy: Policy, detector: Detector) -> list[Detection]:
    """What the looks at large changed ``areas`` of ``image`` find, each read as a single image is
    (``_whole``): boxes that [-1, 1] alone finds there and that are doubtful (squarish, coloured)
    are kept only where DB's training normalisation finds them too. Unconfirmed, a later image of a
    layout got a box on a shoulder of a bone scan (NM, JPEG-LL.dcm after its JPEG 2000 twin) that
    the image alone does not get."""
    found = [d.box for _, d in areas.run()]
    if getattr(detector, "trained", False):
        found = confirmed([image], [found], policy, detector, trained=True)[0]
    return [Detection(box, detector_name(detector, areas.suffix), "full") for box in sorted(set(found))]


def _looks_cost(image: np.ndarray, places: Sequence[Box], renderings: int, zoom: float, wholes: Sequence[Box],
                whole: float) -> float:
    """The network pixels that looks at a later image's changed ``places`` (each a wide crop in
    ``renderings`` renderings at ``zoom``) and changed areas (``wholes``, at ``whole``, the whole
    pass's magnification) take in, in whole images at ``whole``: the network's time grows with them."""
    def pixels(box: Box) -> int:
        return (box[2] - box[0]) * (box[3] - box[1])

    crops = sum(pixels(crop_bounds(image.shape, place, wide=True)) for place in places) * renderings * zoom ** 2
    areas = sum(pixels(crop_bounds(image.shape, box, margin=AREA_MARGIN)) for box in wholes) * whole ** 2
    return (crops + areas) / (image.shape[0] * image.shape[1] * whole ** 2)


def _changed_unread(box: Box, faint: np.ndarray, known: Sequence[Box]) -> bool:
    """``faint``, the enhanced difference from the reference, shows a change inside ``box`` (more
    than IDENTICAL), and ``known`` leaves less than LINE_COVERED of it covered."""
    x0, y0, x1, y1 = box
    return share_covered(box, known) < LINE_COVERED and int(faint[y0:y1, x0:x1].max(initial=0)) > IDENTICAL


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
    return [panel for panel in panels(image) if not is_covered(panel, moved) and _changed_unread(panel, faint, known)]


def recoloured(image: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Pixels of ``image`` whose channels differ from ``before`` by more than TOLERANCE / 2: the
    only places where coloured type can be new (a device's coloured icons, the same in every
    file of a layout, are left out: looking for lines among them cost a series file 1.2x)."""
    red, green, blue = cv2.split(cv2.absdiff(image, before))
    return cv2.max(cv2.max(red, green), blue) > TOLERANCE // 2


def later_image(reference: Reference, image: np.ndarray, window: np.ndarray | None, policy: Policy,
                detector: Detector, image_regions: Sequence[Box] = ()) -> list[Detection]:
    """Detections on a single image of a layout seen before.

    The reference's boxes carry over where the image shows the same; where it does not, their
    place is looked at again, in "full" and, for a box "local" or "smooth" found, in that rendering
    too (large type over tissue gets no box in "full"). OCR looks only at crops of what differs:
    large changed areas whole (read as a single image is, ``_areas_read``; on flat ground with the
    second look that places get, see below: a turned page's paragraph), lines of faint strokes
    on flat ground that changed by less than TOLERANCE (``_changed_faint_lines``), flat panels that
    changed, alone in "enhanced" (``_changed_panels``),
    text-sized places (also those only the enhanced rendering shows: faint text) in the full, the
    enhanced and the local rendering (changed areas outside the moving image in "local" too; its
    boxes kept where faint, ``local_line``: a label 25 grey levels off its banner is invisible to
    DB in "full"); a place faint on flat ground (``faint_in``) or on flat ground (``on_flat_ground``:
    paper, a banner, black) that the look leaves uncovered is looked at again with DB's training
    normalisation, as a single image's whole pass reads it (``Looks.again``: a later scanned
    page's block of 5 px faded print through JPEG, which [-1, 1] reads a tenth of; in tissue that
    second look finds texture, so places there do without it). What only that second look finds,
    and what the looks at changed panels find, is kept where its pixels stand out from their
    ground, cut to the rows where they do (``standing_out``): both mark the grain of blank JPEG
    paper where a later page lacks text its reference had, or take it in below a label (series
    sweep, pages). A calibrated image region (ultrasound) in
    which anything changed counts as one changed area, not as many places where the speckle
    moved, and is not read whole: text there forms lines of strokes, and lines left unread
    where the image changed get the closer look a single image gives them (``recheck``, and
    ``turned_read`` for vertical ones; labels
    over the sector of a cardiac clip, 8-18 px: the same 72 of 90 as when the region was read
    whole, benchmarks/recall_sweep.py; a word of one or two letters, or a lone mark, there is
    not looked for).
    Where the image differs from the reference, lines of dark pixels on bright ground that the
    looks so far leave uncovered have the "ink" rendering read whole (``ink_read``: dark type
    over bright tissue, which no crop of "full" reads).
    A box that only an extra rendering found is looked at again in that rendering (its whole row,
    the context the lines that found it had), unless the pixels under it are those of the
    reference: such finds are the least certain, and carrying one over where the image only looks
    alike (within TOLERANCE) would blank a text-free image; once confirmed, it carries over as it
    was (the same image gives the same output whether it came first or not), with what the look
    found over it (a longer label a few grey levels off black differs by less than TOLERANCE).
    Large type new over tissue is read by the lines of its "smooth" rendering (``smooth_lines``).
    An image that differs nearly everywhere (a later page of a scanned document: each line of print
    is a changed place) is read as a single image is, the comparison skipped: the looks at what
    changed would take in the network pixels of more than MANY_LOOKS whole images (``_looks_cost``;
    series sweep: 4-12 s a later page against 0.5-0.9 s alone, and fewer of its labels read).
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    before = reference.grey
    found: list[Detection] = []
    zoom = crop_zoom(image, policy, detector)
    makers = {"full": lambda: image, "enhanced": lambda: enhance(image), "local": lambda: localise(image),
              "window": lambda: window, "dark": lambda: darken(image), "smooth": lambda: smooth(image)}
    rendered = functools.cache(lambda name: makers[name]() if name in makers else None)  # made when needed
    local = "local" in policy.renderings  # faint labels: looked for in "local" too, boxes kept where faint
    difference = cv2.absdiff(grey, before)
    changed = difference > TOLERANCE
    area = image_area(changed)
    moved = [r for r in image_regions if changed[r[1]:r[3], r[0]:r[2]].any()]  # calibrated images that changed
    for x0, y0, x1, y1 in moved:
        area[y0:y1, x0:x1] = True
    wholes = [box for box in components(area, (1, 1)) if not is_covered(box, moved)]  # not the moving image:
    # that is read by its lines of strokes (recheck), not whole
    enhanced = cv2.cvtColor(rendered("enhanced"), cv2.COLOR_RGB2GRAY)
    faint = cv2.absdiff(enhanced, reference.enhanced_grey)
    places = sorted({*strong_places(difference, area), *strong_places(faint, area)})
    if _looks_cost(image, places, 3 if local else 2, zoom, wholes, whole_zoom(image, policy)) > MANY_LOOKS:
        return single_images(image[None], None if window is None else window[None], policy, detector)[0]
    looks = Looks(detector, "layout")
    checks = Looks(detector, "layout")
    plain = [d.box for d in reference.detections if d.rendering == "full"]
    checked: list[Detection] = []
    for detection in reference.detections:
        again = rendered(detection.rendering)
        if not same_content(grey, before, detection.box):
            looks.add(0, image, detection.box, zoom, wide=True)
            if detection.rendering in ("local", "smooth") and detection.rendering in policy.renderings:
                looks.add(0, rendered(detection.rendering), detection.box, zoom, wide=True,
                          rendering=detection.rendering)
        elif (detection.rendering == "full" or again is None or is_covered(detection.box, plain)
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
        if is_covered(detection.box, [d.box for d in now]):
            # confirmed: the box carries over, with what the look finds over it now (a label that
            # differs from the reference's by a few grey levels may be longer than it was)
            found.append(Detection(detection.box, CARRIED, detection.rendering))
            found.extend(now)
    kept_as = functools.partial(standing_out, image)  # second looks' and panels' boxes: not the grain of blank paper
    areas = Looks(detector, "layout", kept_as=kept_as)
    for box in wholes:
        areas.add(0, image, box, whole_zoom(image, policy), margin=AREA_MARGIN, again=on_flat_ground(image, box))
        if local and not any(overlaps(box, region) for region in image_regions):  # not the moving image
            looks.add(0, rendered("local"), box, whole_zoom(image, policy), margin=AREA_MARGIN, rendering="local")
    faint_places = Looks(detector, "layout", again=True, kept_as=kept_as)
    for place in places:
        queue = faint_places if faint_in(image, place) or on_flat_ground(image, place) else looks
        queue.add(0, image, place, zoom, wide=True)
        queue.add(0, rendered("enhanced"), place, zoom, wide=True, rendering="enhanced")
        if local:
            queue.add(0, rendered("local"), place, zoom, wide=True, rendering="local")
    found.extend(d for _, d in looks.run() + faint_places.run() if _place_kept(image, d))
    found.extend(_areas_read(image, areas, policy, detector))
    if "smooth" in policy.renderings and wholes:  # large type over tissue, as a single image's pass finds it
        found.extend(_smooth_areas(image, wholes, rendered("smooth"), [d.box for d in found], policy, detector))
    faint_lines = Looks(detector, "layout", again=True, kept_as=kept_as)
    known = [d.box for d in found]
    for line in _changed_faint_lines(rendered("enhanced"), faint, known, area):
        for name in ("full", "enhanced", "local") if local else ("full", "enhanced"):
            faint_lines.add(0, rendered(name), line, zoom, wide=True, rendering=name)
    found.extend(d for _, d in faint_lines.run() if _place_kept(image, d))
    if wholes or places:  # something changed outside the moving image: a banner may be new
        changed_panels = _changed_panels(image, faint, known, moved)
        read = read_panels([(0, image, rendered("enhanced"), p) for p in changed_panels], zoom, detector, "layout")
        found.extend(Detection(cut, d.detector, d.rendering) for _, d in read if (cut := kept_as(d.box)) is not None)
    again = Looks(detector, "recheck")
    differs = lambda box: not same_content(grey, before, box)  # noqa: E731
    around = changed_window(changed)  # (``window`` is the display window's rendering)
    recheck(image, 0, [d.box for d in found], again, policy, differs,
            recoloured(image, reference.image) if "colour" in policy.renderings else None, around)
    found.extend(d for _, d in again.run())
    if "smooth" in policy.renderings and places:  # not over the moving image: its walls form such lines
        found.extend(smooth_lines(image, rendered("smooth"), [d.box for d in found], policy, detector,
                                  lambda box: differs(box) and not is_covered(box, moved)))
    if "turned" in policy.renderings:
        found.extend(turned_read(image, [d.box for d in found], policy, detector, differs, around))
    if "ink" in policy.renderings:
        found.extend(ink_read(image, [d.box for d in found], differs, detector))
    closer = Looks(marks_detector(detector))
    # a mark that looks as it did in the reference had its closer look there (what it found, if
    # anything, carried over above); in the moving image lone marks are speckle grains on dark
    # ground, and words of one or two letters there are not looked for (see above)
    closer_look(image, 0, [d.box for d in found], closer,
                lambda box: not is_covered(box, moved) and differs(box))
    found.extend(d for _, d in closer.run())
    carried = [d for d in found if d.detector == CARRIED]  # reached along their panels in the reference already
    return carried + reach_panel_ink(image, [d for d in found if d.detector != CARRIED])


def _smooth_areas(image: np.ndarray, wholes: Sequence[Box], smoothed: np.ndarray, known: Sequence[Box],
                  policy: Policy, detector: Detector) -> list[Detection]:
    """What the "smooth" rendering of a later image shows in its changed areas (``wholes``), read
    as a single image's is: each area at half size, the lines ``known`` does not read looked at
    again along the line close up (``closer_at_smooth``)."""
    coarse = Looks(detector, "layout")
    for box in wholes:
        coarse.add(0, smoothed, box, whole_zoom(image, policy) * WHOLE_SCALE["smooth"], margin=AREA_MARGIN,
                   rendering="smooth")
    lines = [(frame, d) for frame, d in coarse.run() if kept_box("smooth", image, known, d.box)]
    return [d for _, d in closer_at_smooth(lines, lambda _: smoothed, lambda _: image, lambda _: known, policy,
                                           detector)]


def smooth_lines(image: np.ndarray, smoothed: np.ndarray, known: Sequence[Box], policy: Policy,
                 detector: Detector, wanted: Callable[[Box], bool]) -> list[Detection]:
    """Large type over the tissue of a later image: the lines of strokes of the "smooth" rendering
    at half size (WHOLE_SCALE: large type keeps its strokes there, speckle is gone), those on one
    row joined (``joined``: "ID" and "4455" of a 36 px label may be two lines, neither of a line's
    shape), in which
    ``known`` leaves a letter's width (``_letter``) unread and that ``wanted`` accepts (where the
    image changed), looked at along the line close up as ``closer_at_smooth`` does; a box of that
    look is kept where it reads a letter's width more of the line. Such a label changes the image
    in a text-sized place, whose looks in "full", "enhanced" and "local" give it no box or miss a
    letter where a pane's frame crosses it; a single image finds it in its whole "smooth" pass
    (series sweep, "large"). The caller leaves out the moving image of a calibrated region: the
    walls of a beating heart form such lines in most of color3d's frames, and looking at them
    took a later file's look against its reference from 21 to 39 ms (99 files), for no box."""
    scale = WHOLE_SCALE["smooth"]
    grey = cv2.resize(smoothed[..., 0], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    lines = joined([tuple(round(v / scale) for v in line) for line in lines_of(unruled(strokes(grey)))])
    # each line with what ``known`` reads of it, found once
    lines = [(line, columns_read(line, known)) for line in lines
             if text_shaped(line) and line[3] - line[1] >= LARGE_LINE]
    lines = [(line, read) for line, read in lines if longest_unread(read) >= _letter(line) and wanted(line)]
    looks = Looks(detector, "smooth")
    for index, (line, _) in enumerate(lines):  # the frame slot carries the line's index
        looks.add(index, smoothed, line, closer_zoom(image, line, policy), wide=True,
                  rendering="smooth")
    kept = []
    for index, detection in looks.run():
        line, read = lines[index]
        if line_like(detection.box) and np.count_nonzero(columns_read(line, [detection.box]) & ~read) >= _letter(line):
            kept.append(detection)
    return kept


def _letter(line: Box) -> int:
    """About the width of a letter of the type that forms ``line`` (a quarter of its height): the
    least run of its columns that counts as unread in ``smooth_lines``."""
    return max(1, (line[3] - line[1]) // 4)


def _place_kept(image: np.ndarray, detection: Detection) -> bool:
    """A box a later image's look at a place found is kept: from "local", a line faint in ``image``
    (``local_line``); from "smooth", a line (``line_like``), as the single image's pass keeps them."""
    if detection.rendering == "local":
        return local_line(image, detection.box)
    return detection.rendering != "smooth" or line_like(detection.box)
