"""What moves in a clip: the static layer, the small regions that keep changing, and what appears.

Burned-in overlays are static while the image moves. The per-pixel median over the frames keeps
them crisp, so OCR looks at it once for the whole clip. Pixels that leave the median are what is
new in a frame: a clock's digits, a label shown for a moment, or the moving image itself. Only the
text-sized places among them get another (small, cropped) OCR look, which is why a clip costs
little more than one frame.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .blobs import components_with_stats
from .boxes import Box, overlaps
from .proposer import lines_of, strokes, text_shaped

TOLERANCE = 20  # grey levels a pixel may drift (JPEG noise on a static overlay) and still be static
FAINT = 5  # grey levels a quiet pixel must leave the median by to show a faint label
QUIET = 0.5  # a pixel leaving the median by FAINT levels in more of the frames than this is the image's, not
# quiet (a label shown that long is in the median: the static layer) ...
QUIET_BOX = 0.9  # ... and a faint place lies on quiet pixels over at least this share of its box ...
RING, ALONE = 3, 0.02  # ... with at most this share of the rows this high above and below it changed
MEDIAN_SAMPLE = 15  # frames, spread over the clip, that the median is taken over
OFTEN = 0.5  # a pixel that leaves the median in this share of the frames keeps changing
STRONG, STRONG_PIXELS = 2 * TOLERANCE, 5  # a new glyph differs this much in at least this many pixels
MAX_TEXT_HEIGHT = 48  # taller changing places are the moving image, not a line of text
MIN_TEXT_HEIGHT = 4  # shorter changes are noise
MAX_PLACES = 12  # more new text-sized places than this in one frame: look at the whole frame
PLACES_PER_FRAME = 2  # on average, for the moving image to be taken as large enough
SHARES = (0.5, 0.2, 0.1, 0.05)  # shares of frames tried for "the moving image changes here"
LAYER_STROKE = 20  # a pixel of a box of the static layer is a stroke when it is this far from the box's median grey
LAYER_OFF = 0.5  # a frame shows the layer's box unless more than this share of those strokes leave it by TOLERANCE


@dataclass(frozen=True, slots=True)
class Motion:
    """Grey frames of a clip, their median, and the pixels that keep changing."""

    grey: np.ndarray  # (frames, rows, cols) uint8
    median: np.ndarray  # (rows, cols) uint8
    changes: np.ndarray  # (rows, cols) int: in how many frames each pixel leaves the median

    @property
    def often(self) -> np.ndarray:
        """Pixels that leave the median in at least OFTEN of the frames."""
        return self.changes >= OFTEN * len(self.grey)


def analyse(full: np.ndarray, grey: np.ndarray | None = None) -> Motion:
    """Median and changing pixels of RGB frames (frames, rows, cols, 3), or of their ``grey``
    luminance when the caller has it already."""
    if grey is None:
        grey = np.stack([cv2.cvtColor(full[i], cv2.COLOR_RGB2GRAY) for i in range(len(full))])
    sample = np.unique(np.linspace(0, len(grey) - 1, min(len(grey), MEDIAN_SAMPLE)).round().astype(int))
    median = np.median(grey[sample], axis=0).astype(np.uint8)
    counts = np.zeros(median.shape, np.int32)
    for frame in grey:
        counts += cv2.absdiff(frame, median) > TOLERANCE
    return Motion(grey=grey, median=median, changes=counts)


def static_layer(motion: Motion, frame: np.ndarray | None = None) -> np.ndarray:
    """The median as an RGB image: static overlays crisp, the moving image blurred; where a pixel
    never leaves the median, in the colours of ``frame`` (an RGB frame of the clip), so that
    coloured type burned into every frame keeps its colour (blue type has about the luminance of
    the tissue under it)."""
    layer = cv2.cvtColor(motion.median, cv2.COLOR_GRAY2RGB)
    if frame is not None:
        still = motion.changes == 0
        layer[still] = np.asarray(frame)[still]
    return layer


def showing_layer(motion: Motion, box: Box) -> np.ndarray:
    """Per frame, whether it shows what the static layer shows in ``box``: its strokes (pixels
    LAYER_STROKE off the box's median grey in the layer) stay within TOLERANCE of the layer, but
    for at most LAYER_OFF of them. Burned-in text does in every frame (JPEG noise included: none of
    the annotated clips' layer boxes leaves it in more than 0.28 of its strokes); where the frames
    are slices of a volume rather than a clip, the median blends them, and what the layer shows
    there, a half-tone of two slices' marks, is in no frame (eCT_Supplemental: 12 of 13 boxes
    leave it in 0.94-1.0 of their strokes). A box with no stroke is shown by every frame."""
    x0, y0, x1, y1 = box
    layer = motion.median[y0:y1, x0:x1]
    count = len(motion.grey)
    if layer.size == 0:
        return np.ones(count, bool)
    strokes = np.abs(layer.astype(np.int16) - int(np.median(layer))) > LAYER_STROKE
    if not strokes.any():
        return np.ones(count, bool)
    at = motion.grey[:, y0:y1, x0:x1][:, strokes].astype(np.int16)
    off = np.abs(at - layer[strokes].astype(np.int16)) > TOLERANCE
    return off.mean(axis=1) <= LAYER_OFF


def components(mask: np.ndarray, close: tuple[int, int] = (3, 9)) -> list[Box]:
    """Bounding boxes of the connected parts of ``mask`` after joining letters into words."""
    joined = mask.astype(np.uint8)
    if close != (1, 1):
        joined = cv2.morphologyEx(joined, cv2.MORPH_CLOSE, np.ones(close, np.uint8))
    count, _, stats = components_with_stats(joined, 8)
    return [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, _ in stats[1:count]]


def text_sized(box: Box) -> bool:
    """As tall as a line of text can be."""
    return MIN_TEXT_HEIGHT <= box[3] - box[1] <= MAX_TEXT_HEIGHT


def changing_places(motion: Motion, moving: np.ndarray) -> list[Box]:
    """Text-sized places that keep changing (clocks, frame counters) outside the moving image."""
    return [b for b in components(motion.often & ~moving) if text_sized(b)]


def image_area(changed: np.ndarray) -> np.ndarray:
    """Where ``changed`` pixels form areas taller than text: each area filled to its outline (the
    quiet parts of an ultrasound sector are still image) and grown a few pixels at its edges."""
    joined = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros(joined.shape, np.uint8)
    hulls = [cv2.convexHull(c) for c in contours if cv2.boundingRect(c)[3] > MAX_TEXT_HEIGHT]
    cv2.fillPoly(out, hulls, 1)
    return cv2.dilate(out, np.ones((9, 9), np.uint8)).astype(bool)


def moving_image(motion: Motion, share: float) -> np.ndarray:
    """Pixels of the moving image: the image areas of the pixels that leave the median in at
    least ``share`` of the frames."""
    return image_area(motion.changes >= max(2.0, share * len(motion.grey)))


def strong_places(difference: np.ndarray, moving: np.ndarray) -> list[Box]:
    """Text-sized places outside ``moving`` where a grey ``difference`` is clear (glyphs are
    sharp; faint noise at the edge of an image is not)."""
    new = (difference >= STRONG) & ~moving
    if np.count_nonzero(new) < STRONG_PIXELS:
        return []
    return [b for b in components(new)
            if text_sized(b) and np.count_nonzero(new[b[1]:b[3], b[0]:b[2]]) >= STRONG_PIXELS]


def appearing(motion: Motion, image_regions: Sequence[Box] = ()
              ) -> tuple[np.ndarray, list[list[Box]], list[list[Box]]]:
    """The moving image and, per frame, the text-sized places outside it where the frame differs
    from the median (a label shown for a while, a changing clock), and the faint ones
    (``faint_places``).

    The moving image holds the given image regions (ultrasound calibration) and the changing
    areas of the clip. Of the shares of frames a pixel must change in to count, the largest is
    taken that leaves at most PLACES_PER_FRAME places per frame on a sample of frames: a higher
    share makes the quiet parts of the image look like text appearing, a lower one lets a label
    shown for a while next to the image join the image.
    """
    count = len(motion.grey)
    regions = np.zeros(motion.median.shape, bool)
    for x0, y0, x1, y1 in image_regions:
        regions[y0:y1, x0:x1] = True
    differences = [cv2.absdiff(frame, motion.median) for frame in motion.grey]
    sample = np.unique(np.linspace(0, count - 1, min(count, MEDIAN_SAMPLE)).round().astype(int))
    for share in SHARES:
        measured = moving_image(motion, share)
        moving = measured | regions
        if sum(len(strong_places(differences[i], moving)) for i in sample) <= PLACES_PER_FRAME * len(sample):
            break
    stirs = np.zeros(motion.median.shape, np.int32)  # frames in which each pixel leaves the median by FAINT
    for difference in differences:
        stirs += difference > FAINT
    quiet = ~measured & (stirs <= QUIET * count)  # a calibrated region's black corners too
    return (moving, [strong_places(difference, moving) for difference in differences],
            [faint_places(difference, quiet) for difference in differences])


def faint_places(difference: np.ndarray, quiet: np.ndarray) -> list[Box]:
    """Text-shaped lines (``text_shaped``) of the pixels where a grey ``difference`` from the
    median passes FAINT at ``quiet`` pixels, lying on such pixels (QUIET_BOX) and alone
    (``_alone``): a label 8-25 grey levels off black, or off a banner, shown for a while where the
    frame seldom changes (a clip's black surround, or the black corners of a calibrated region:
    quiet pixels are those outside the measured moving image), which never passes STRONG."""
    stirred = difference > FAINT
    new = (stirred & quiet).astype(np.uint8)
    if np.count_nonzero(new) < STRONG_PIXELS:
        return []
    return [b for b in lines_of(new) if text_shaped(b) and _alone(stirred, b)
            and np.count_nonzero(quiet[b[1]:b[3], b[0]:b[2]]) >= QUIET_BOX * (b[2] - b[0]) * (b[3] - b[1])]


def _alone(stirred: np.ndarray, box: Box) -> bool:
    """At most ALONE of the pixels in the bands of RING rows above and below ``box`` are
    ``stirred``: a faint label's difference ends at its top and bottom (or its banner's), while
    faint speckle at the side of an ultrasound sector, which also forms text-shaped lines, goes on
    around them (along the line lie the label's other words): of the 325 lines on color3d's 120
    frames that pass the other tests, 4 pass this one."""
    x0, y0, x1, y1 = box
    above, below = stirred[max(0, y0 - RING):y0, x0:x1], stirred[y1:y1 + RING, x0:x1]
    return np.count_nonzero(above) + np.count_nonzero(below) <= ALONE * (above.size + below.size)


SAME_STROKES = 0.7  # a line continues the previous frame's when this share of their strokes match
LINE_MIN_WIDTH = 3  # narrower lingering "lines" are the edges of the moving image, not glyphs


@dataclass(frozen=True, slots=True)
class Line:
    """A line of lingering strokes in one frame; ``after`` is the index of the line it continues
    in the frame before (the same strokes at the same place), or -1."""

    box: Box
    after: int = -1


@dataclass(frozen=True, slots=True)
class NewLines:
    """Lines of new strokes over the moving image, per frame."""

    lingering: list[list[Line]]  # strokes that stay put for at least two frames
    flashing: list[list[Box]]  # text-shaped lines of strokes that neither neighbouring frame holds


def new_lines(motion: Motion, moving: np.ndarray) -> NewLines:
    """Per frame, strokes inside the moving image that are not in the static layer (it is read
    once) and form lines, in two kinds:

    * lingering: the strokes stay put for at least two frames while the image under them
      changes (a label or a name shown over the image for a while); a line whose strokes are
      those of a line of the frame before continues it (OCR needs to look at a run of them once).
      They also hold slow parts of the image, so OCR decides what is text;
    * flashing: strokes with the shape of a line of text (``text_shaped``) that differ from both
      neighbouring frames: text shown in a single frame, which never stays put. The moving image
      forms lines that change from frame to frame, but seldom that shape (one in 120 frames of
      pydicom-data's cardiac clip color3d).
    """
    count = len(motion.grey)
    lingering: list[list[Line]] = []
    flashing: list[list[Box]] = []
    before: np.ndarray | None = None
    for index, frame in enumerate(motion.grey):
        still = np.zeros(frame.shape, bool)
        for other in (index - 1, index + 1):
            if 0 <= other < count:
                still |= cv2.absdiff(frame, motion.grey[other]) <= TOLERANCE
        fresh = strokes(frame).astype(bool) & (cv2.absdiff(frame, motion.median) > TOLERANCE) & moving
        mask = fresh & still
        lines = []
        for box in lines_of(mask.astype(np.uint8)):
            if box[2] - box[0] < LINE_MIN_WIDTH:
                continue
            after = -1
            if before is not None:
                after = next((i for i, line in enumerate(lingering[-1])
                              if _same_strokes(mask, before, box, line.box)), -1)
            lines.append(Line(box, after))
        lingering.append(lines)
        flashes = lines_of((fresh & ~still).astype(np.uint8)) if count > 1 else []
        flashing.append([box for box in flashes if text_shaped(box)])
        before = mask
    return NewLines(lingering, flashing)


def _same_strokes(mask: np.ndarray, before: np.ndarray, box: Box, other: Box) -> bool:
    """``box`` in ``mask`` and ``other`` in ``before`` hold the same strokes (over both boxes)."""
    x0, y0 = min(box[0], other[0]), min(box[1], other[1])
    x1, y1 = max(box[2], other[2]), max(box[3], other[3])
    if not overlaps(box, other):
        return False
    a, b = mask[y0:y1, x0:x1], before[y0:y1, x0:x1]
    union = np.count_nonzero(a | b)
    return union > 0 and np.count_nonzero(a & b) >= SAME_STROKES * union
