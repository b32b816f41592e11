"""Find text in a clip: its static layer (the median over the frames, where burned-in overlays are
crisp) is read as a single image is, its "local" rendering also magnified (the cost is paid once for
every frame), and the extra renderings of the key frames where they can add to it; then every frame
is checked cheaply, and OCR looks again only at small crops: the places that keep changing (clocks,
counters), text-sized places where a frame differs from the median (a label shown for a moment; a
faint one, a few grey levels off black, also in its enhanced and local renderings, magnified), lines
of strokes over the moving image that stay put for a few frames (a name drawn on the image) or that
have the shape of text and are there in one frame only, lines of one colour among the pixels whose
colour is not the static layer's (blue or dark red type shown for a moment forms no grey strokes of
its own), and key-frame boxes whose content differs in that frame. A frame with too many new places
is looked at whole. So recall holds in every frame while OCR cost grows with what changes, not with
the number of frames.
"""
from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Sequence

import cv2
import numpy as np

from ..policy import Policy
from .boxes import Box, Detection, overlaps
from .looks import (LINE_COVERED, Looks, crop_zoom, detector_name, is_covered, line_like, run_once, share_covered,
                    whole_zoom)
from .motion import (MAX_PLACES, Motion, analyse, appearing, changing_places, new_lines, showing_layer,
                     static_layer)
from .proposer import LEVEL_FLAT, beyond, flat_counts, stroke_levels
from .registry import Detector
from .renderings import coloured_pixels, enhance, faint_in, key_frames, level_rendering, localise, smooth, views
from .series import AREA_MARGIN, recoloured, same_content, smooth_lines
from .single import extra_renderings, local_line, single_images
from .unread import closer_zoom, colour_looks, level_looks, looks_by_colour, read_to_ends, recheck

SAMPLES = 3  # frames in which a changing place is looked at
STATIC_LOCAL_ZOOMS = (1.5,)  # a clip's static layer: its "local" rendering is also read whole magnified this
# much (8 px type the pass at 1x misses; 2.25x that pass's cost, once per clip: single images go without)


def _new_colour(image: np.ndarray, sparse_layer: np.ndarray) -> bool:
    """Some pixel of every second row and column of ``image`` is coloured (``coloured_pixels``) where
    its colour is not that of ``sparse_layer``, the static layer taken so (``recoloured``): a
    quarter of the cost of finding every such pixel, which a frame without new colour (most
    frames of a clip) is spared. A line of type has dozens of coloured pixels, a quarter of
    them are looked at here."""
    sparse = _sparse(image)
    return bool((recoloured(sparse, sparse_layer) & coloured_pixels(sparse)).any())


def _frame(full: np.ndarray, frame: int) -> Callable[[], np.ndarray]:
    """A way to ``full[frame]`` again (``Looks.add``'s ``source``): a YBR clip's RGB frames are
    rendered on demand and kept up to a bound; a crop queued in each frame that held its frame
    would hold them all (366 MB of a 480-frame 640x480 clip)."""
    return functools.partial(operator.getitem, full, frame)


def _sparse(image: np.ndarray) -> np.ndarray:
    """Every second row and column of ``image`` (OpenCV's nearest-neighbour halving: a fifth of
    the cost of numpy's strided copy)."""
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_NEAREST)


def _layer_read(motion: Motion, coloured_layer: np.ndarray) -> np.ndarray:
    """The static layer as it is read whole: the median of luminance (``static_layer``), but in
    the colours of ``coloured_layer`` (a key frame's, where a pixel never changes) where those
    are colours. The median's grey of still colour flow is bright blobs on dark tissue, which DB
    read as a line of text: in a still 6-frame clip of US1, a 115x47 px box over its flow in
    every frame, which the frame alone does not get (benchmarks/still_clips.py: over-redaction
    in the clip 2.3 % -> 0.35 %, alone 0.39 %). Grey pixels keep the median: a slice of a
    volume (eCT_Supplemental) shows its own marks crisp where the median blends them away."""
    layer = static_layer(motion)
    colours = coloured_pixels(coloured_layer)
    layer[colours] = coloured_layer[colours]
    return layer


def clip_frames(full: np.ndarray, window: np.ndarray | None, policy: Policy, detector: Detector,
                image_regions: Sequence[Box], grey: np.ndarray | None) -> list[list[Detection]]:
    count = full.shape[0]
    zoom = crop_zoom(full[0], policy, detector)
    motion = analyse(full, grey)
    keys = key_frames(count, policy.extra_rendering_frames)
    # the static layer is read as one image is, with "local" and the closer looks ("static" in the
    # sweep: 487 of 594 banner labels against 402 when CRAFT read it whole, at half the cost), and
    # since its cost is shared by every frame, "local" magnified too (505 -> 565); the key frames
    # add what only their window, enhanced or dark rendering shows ("smooth", large type over the
    # image, is read on the layer: the key frames' large type is that of the layer or of a moment)
    extra = tuple(r for r in policy.renderings if r not in ("full", "local", "smooth"))
    coloured_layer = static_layer(motion, full[keys[0]])
    found: list[list[Detection]] = [[] for _ in range(count)]
    looks = Looks(detector, "motion")
    # (vertical lines keep their "turned": they are joined and padded along their columns)
    static = [Detection(d.box, d.detector, d.rendering if d.rendering == "turned" else "static")
              for d in single_images(_layer_read(motion, coloured_layer)[None], None, policy, detector,
                                     STATIC_LOCAL_ZOOMS)[0]]
    # coloured type burned into every frame is looked for in its colours, which a frame holds
    # where the pixels never change
    colour = Looks(detector, "recheck")
    static_known = [d.box for d in static]
    looks_by_colour(coloured_layer, 0, static_known, colour, policy)
    static += [Detection(d.box, d.detector, "static") for _, d in colour.run()]
    static_boxes = [d.box for d in static]
    key_views = views(full[keys], None if window is None else window[keys], extra, len(keys))
    key_found: dict[int, list[Detection]] = {}
    key_image = lambda i: full[keys[i]]  # noqa: E731
    for index, detection in extra_renderings(key_views, lambda _: static_boxes, key_image, policy, detector):
        key_found.setdefault(keys[index], []).append(detection)
    for detection in static:  # elsewhere than where a frame shows it, the layer's box may blend slices
        _carry(detection, showing_layer(motion, detection.box), full, found, looks, zoom)
    for key, detections in key_found.items():
        for detection in detections:
            if not is_covered(detection.box, static_boxes):
                _carry(detection, (frame == key or same_content(motion.grey[frame], motion.grey[key], detection.box)
                                   for frame in range(count)), full, found, looks, zoom)
    moving, places, faint_at = appearing(motion, image_regions)
    _text_over_image(full, motion, moving, found, zoom, detector)
    # coloured type shown for a moment: blue or dark red over tissue forms no grey strokes of its
    # own; it is looked for in every frame among the pixels whose colour is not the static layer's
    sparse_layer = _sparse(coloured_layer)
    colours, by_level = "colour" in policy.renderings, "level" in policy.renderings
    flat = []  # flat_counts per frame: a grey that one frame holds beyond the others (_level_moments)
    for frame in range(count) if colours or by_level else ():
        image = full[frame]
        if by_level:
            flat.append(flat_counts(image))
        if colours and _new_colour(image, sparse_layer):
            colour_looks(image, frame, [d.box for d in found[frame]], looks, policy,
                         where=recoloured(image, coloured_layer), source=_frame(full, frame))
    changes = Looks(detector, "motion")
    for place in changing_places(motion, moving):
        for frame in key_frames(count, SAMPLES):
            changes.add(frame, full[frame], place, zoom, wide=True, source=_frame(full, frame))
    for box in {d.box for _, d in changes.run()}:
        for frame in range(count):
            found[frame].append(Detection(box, detector_name(detector, "motion"), "change"))
    whole: list[int] = []
    faint = Looks(detector, "motion", again=True)
    for frame in range(count):
        known = [d.box for d in found[frame]]
        new = [place for place in places[frame] if not is_covered(place, known)]
        if len(new) > MAX_PLACES:
            whole.append(frame)  # read whole in "full": its faint places still get their own looks
        for place in new if len(new) <= MAX_PLACES else ():
            _place_looks(full, frame, place, zoom, looks, faint, policy, faint_in(full[frame], place))
        for place in faint_at[frame]:
            if not is_covered(place, known) and not any(is_covered(place, [other]) for other in new):
                _place_looks(full, frame, place, zoom, looks, faint, policy, True)
    for frame, boxes in zip(whole, run_once(detector, [full[f] for f in whole])):
        found[frame].extend(Detection(box, detector_name(detector), "full") for box in boxes)
    for frame, detection in looks.run() + faint.run():
        if detection.rendering != "local" or local_line(full[frame], detection.box):
            found[frame].append(detection)
    _recheck_places(full, [[*strong, *weak] for strong, weak in zip(places, faint_at)], found, policy, detector)
    levels = Looks(detector, "motion")
    wholes = _level_moments(full, flat, found, levels, policy)
    for frame, detection in levels.run():
        found[frame].append(detection)
    for frame, level in wholes:  # one frame at a time: a frame's rendering is as large as the frame
        image = full[frame]
        boxes = detector([level_rendering(image, level)], magnify=whole_zoom(image, policy))[0]
        found[frame].extend(Detection(box, detector_name(detector, "motion"), "level") for box in boxes
                            if line_like(box))
    return found


def _recheck_places(full: np.ndarray, places: Sequence[Sequence[Box]], found: list[list[Detection]], policy: Policy,
                    detector: Detector) -> None:
    """Each frame of a clip in which a place (``places``: text-sized, where the frame differs from
    the median) is still not read to its ends (``read_to_ends``, as a single image's lines) gets a
    single image's recheck (``recheck``) there: its lines of strokes, close up. In frames of a still clip
    (US1's frame), a white label whose top touches a pane's thin frame got no box in the look at its
    place (nor in the whole frame's), and an 8 px one half under a tall box of the static layer got
    no look, as a place half covered counts as covered (COVERED), and kept its first letter; close
    up, as in a single image, both read whole. Large type there is read by the lines of its
    "smooth" rendering (``smooth_lines``), as a later image's is: a 36 px white label running
    across a pane's frame got boxes over its second word only (still clips of US1, the sweep's
    "large" labels drawn without JPEG: 27 -> 30 of 30)."""
    again = Looks(detector, "recheck")
    wanted = {}
    for frame, frame_places in enumerate(places):
        known = [d.box for d in found[frame]]
        unread = [place for place in frame_places if not read_to_ends(place, known)]
        if unread:
            wanted[frame] = lambda box, unread=unread: any(overlaps(box, place) for place in unread)
            recheck(full[frame], frame, known, again, policy, wanted=wanted[frame])
    for frame, detection in again.run():
        found[frame].append(detection)
    if "smooth" in policy.renderings:
        for frame, wants in wanted.items():
            found[frame].extend(smooth_lines(full[frame], smooth(full[frame]), [d.box for d in found[frame]], policy,
                                             detector, wants))


def _carry(detection: Detection, shown: Iterable[bool], full: np.ndarray, found: list[list[Detection]],
           looks: Looks, zoom: float) -> None:
    """``detection`` (of the static layer or a key frame) added to each frame that ``shown`` says
    shows what it was found on; in each other frame, a look at its box is queued instead."""
    for frame, here in enumerate(shown):
        if here:
            found[frame].append(detection)
        else:
            looks.add(frame, full[frame], detection.box, zoom)


def _level_moments(full: np.ndarray, flat: Sequence[np.ndarray], found: list[list[Detection]], looks: Looks,
                   policy: Policy) -> list[tuple[int, int]]:
    """Queue the level looks (``level_looks``) of each frame of a clip that holds LEVEL_FLAT more
    flat pixels of some grey than its frames usually do (``beyond`` the median of ``flat``, their
    ``flat_counts``), at the lines that every other look (``found``) leaves unread: dark grey type
    shown for a moment over the dark heart, where it leaves the median by too little to make a
    place. A frame holding no such grey costs only its count (0.5 ms at 640x480). Black and white
    are left out: where the moving image saturates, they come and go with it (the sample clip's
    tissue clips to white in 3 of its 16 frames, in patches that DB read in the look).

    Returns (frame, grey) for such a frame and each grey whose pixels form strokes there
    (``stroke_levels``): the caller reads the frame's rendering of that grey whole and keeps its
    lines (``line_like``). Small or thin type keeps its exact grey in too few pixels to form the
    pieces of a level line (8 px labels, 12 px truetype ones), but DB reads it there whole (recall
    sweep, "clip": its dark labels without JPEG 10 -> 14 of 18; through JPEG no grey is exact, and
    no frame holds one beyond the others). No frame of a real clip holds such a grey (``beyond``)."""
    if not flat or "level" not in policy.renderings:
        return []
    usual = np.median(flat, axis=0)
    usual[[0, 255]] = np.inf
    wholes = []
    for frame, counts in enumerate(flat):
        if beyond(counts, usual).max() >= LEVEL_FLAT:
            image = full[frame]
            level_looks(image, frame, [d.box for d in found[frame]], looks, policy, usual=usual,
                        source=_frame(full, frame))
            wholes += [(frame, level) for level in stroke_levels(image, usual)]
    return wholes


def _place_looks(full: np.ndarray, frame: int, place: Box, zoom: float, looks: Looks, faint: Looks,
                 policy: Policy, is_faint: bool) -> None:
    """Queue the looks at a text-sized ``place`` where frame ``frame`` of a clip (``full``)
    differs from the median: a crop of the full rendering; where the place ``is_faint`` (a label a
    few grey levels off black or off its banner, shown for a while), in ``faint`` (looked at again
    with DB's training normalisation), magnified as unread lines are, and also that crop enhanced
    alone and, where the policy asks for "local", made local alone (the renderings that read a
    single image's faint labels)."""
    image, source = full[frame], _frame(full, frame)
    if not is_faint:
        looks.add(frame, image, place, zoom, wide=True, source=source)
        return
    closer = closer_zoom(image, place, policy)
    faint.add(frame, image, place, closer, wide=True, source=source)
    faint.add(frame, image, place, closer, wide=True, rendering="enhanced", render=enhance, source=source)
    if "local" in policy.renderings:
        faint.add(frame, image, place, closer, wide=True, rendering="local", render=localise, source=source)


def _text_over_image(full: np.ndarray, motion: Motion, moving: np.ndarray, found: list[list[Detection]],
                     zoom: float, detector: Detector) -> None:
    """Add what OCR reads in lines of new strokes over the moving image (``motion.new_lines``).
    Each run of a lingering line (the same strokes at the same place in consecutive frames) is
    looked at once, in its first frame, and what is found there is blanked in every frame of the
    run; a line shown in one frame only (flashing) is looked at in that frame."""
    looks = Looks(detector, "motion")
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
            elif head == (frame, index) and not is_covered(line.box, known):
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
            if share_covered(box, [d.box for d in found[frame]]) < LINE_COVERED:
                # part of it may be over still image
                looks.add(frame, full[frame], box, zoom, wide=True, source=_frame(full, frame))
    for frame, detection in looks.run():
        found[frame].append(detection)
