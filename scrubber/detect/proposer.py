"""Model-free proposers (OpenCV morphology; 5-15 ms a 640x480 frame here): where OCR should look.

They never decide alone what is removed. ``propose`` points at small, sharp marks on a flat
background that the OCR pass did not cover (a lone "Y", a colon, one digit), so that OCR can look
again, closer; ``text_lines`` points at line-shaped clusters of strokes in a rendering, so that
OCR can look at those places of an extra rendering instead of at the whole image: with
``on_flat``, only where the ground around them is flat, which is where a rendering that stretches
contrast can reveal text (faint strokes included) rather than texture; ``panels`` points at flat
banners of one line's size, where a label too faint to form strokes may sit; ``dark_on_bright``
points at lines where dark type may sit on bright ground; ``colour_lines`` at lines of one colour.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import cv2
import numpy as np

from .blobs import components_with_stats
from .boxes import Box
from .renderings import (HUE_BLUR, HUE_CORE, HUE_SECTORS, coloured_pixels, hue_distances, hue_rendering, hue_sectors,
                         off_colour)

MIN_HEIGHT, MAX_HEIGHT = 5, 40
MAX_WIDTH = 60
MIN_CONTRAST = 24.0  # grey levels between a mark and its background
FLAT_SHARE = 0.8  # the background around a glyph on a banner or panel is flat: this share of
FLAT_TOLERANCE = 10.0  # the ring lies within this many grey levels of the ring's median
RING = 3
MAX_PROPOSALS = 200
FAINT_MARK = 40.0  # a mark less than this many grey levels off its ground ...
CROWD = 4  # ... with at least this many other strokes (CROWD_HEIGHT px or taller) around it is texture
CROWD_HEIGHT, CROWD_REACH = 3, 8  # around: centres within the mark's height (at least CROWD_REACH px) of its box


def gradient(grey: np.ndarray) -> np.ndarray:
    """Each pixel's morphological gradient (3x3): how much its neighbourhood's grey spans."""
    return cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))


def stroke_level(gradient: np.ndarray) -> float:
    """The gradient a sharp stroke passes: the Otsu threshold of ``gradient``, at least MIN_CONTRAST."""
    threshold, _ = cv2.threshold(gradient, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return max(threshold, MIN_CONTRAST)


def _sharp(gradient: np.ndarray, level: float | None = None) -> np.ndarray:
    return (gradient >= (stroke_level(gradient) if level is None else level)).astype(np.uint8)


def strokes(grey: np.ndarray, level: float | None = None) -> np.ndarray:
    """Sharp strokes of a grey image: where the morphological gradient passes ``level``, by default
    its ``stroke_level`` (uint8 mask; a part of an image takes the whole image's level)."""
    return _sharp(gradient(grey), level)


def _strokes(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The grey image of an RGB one and its sharp strokes."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return grey, strokes(grey)


def propose(image: np.ndarray, wanted: Callable[[Box], bool] | None = None) -> list[Box]:
    """Boxes of character-sized, high-contrast marks whose surroundings are flat, but for faint
    ones in a crowd of strokes (``_crowd``); with ``wanted``, only the marks it accepts (asked
    before the flatness test, which costs more)."""
    grey, mask = _strokes(image)
    count, _, stats = components_with_stats(mask, 8)
    height, width = grey.shape
    crowd = _crowd(stats[1:count])
    out: list[Box] = []
    for x, y, w, h, _ in stats[1:count]:
        if not (MIN_HEIGHT <= h <= MAX_HEIGHT and w <= MAX_WIDTH):
            continue
        if wanted is not None and not wanted((int(x), int(y), int(x + w), int(y + h))):
            continue
        x0, y0, x1, y1 = max(0, x - RING), max(0, y - RING), min(width, x + w + RING), min(height, y + h + RING)
        window = grey[y0:y1, x0:x1].astype(np.float32)
        inner = np.zeros(window.shape, bool)
        inner[y - y0:y - y0 + h, x - x0:x - x0 + w] = True
        ring = window[~inner]
        background = float(np.median(ring)) if ring.size else 0.0
        if ring.size < 8 or np.mean(np.abs(ring - background) <= FLAT_TOLERANCE) < FLAT_SHARE:
            continue
        contrast = np.abs(window[inner] - background).max()
        if contrast < MIN_CONTRAST or contrast < FAINT_MARK and crowd((x, y, w, h)) >= CROWD:
            continue
        out.append((int(x), int(y), int(x + w), int(y + h)))
        if len(out) >= MAX_PROPOSALS:
            break
    return out


def _crowd(stats: np.ndarray) -> Callable[[tuple[int, int, int, int]], int]:
    """For a mark given as (x, y, w, h): how many of the strokes ``stats`` (x, y, w, h, area rows)
    other than itself are CROWD_HEIGHT px or taller with their centres within the mark's height (at
    least CROWD_REACH px) of its box. A lone mark has none and a letter of a word a few; a grain of the
    texture of anatomy (an MR image's: 200 marks barely MIN_CONTRAST off their ground, each a
    close look by the marks detector that finds nothing) lies among many. A faint letter of a
    word that crowded is a line, for the looks at lines of strokes."""
    tall = stats[stats[:, 3] >= CROWD_HEIGHT]
    centre_x, centre_y = tall[:, 0] + tall[:, 2] / 2, tall[:, 1] + tall[:, 3] / 2

    def count(mark: tuple[int, int, int, int]) -> int:
        x, y, w, h = mark
        reach = max(h, CROWD_REACH)
        near = (np.abs(centre_x - (x + w / 2)) < reach + w / 2) & (np.abs(centre_y - (y + h / 2)) < reach + h / 2)
        return int(near.sum()) - (h >= CROWD_HEIGHT)
    return count


LINE_MIN_HEIGHT, LINE_MAX_HEIGHT = 5, 40
LINE_CLOSE = 9  # strokes of one word lie closer than this along the line
LINE_FILL = 0.3  # share of a line's bounding box that its strokes cover
TEXT_ASPECT, TEXT_WIDTH = 3, 24  # a line of strokes has the shape of a line of text when at least this many
# times as wide as high and this wide (three small characters); speckle and a moving image seldom do


def text_shaped(box: Box) -> bool:
    """``box``, a line of strokes, has the shape of a line of text (TEXT_ASPECT, TEXT_WIDTH)."""
    return box[2] - box[0] >= max(TEXT_WIDTH, TEXT_ASPECT * (box[3] - box[1]))


RULE = 2 * LINE_MAX_HEIGHT  # strokes straight along this many pixels of a row or column are rules and frames
RULE_PIECE = 30  # a rule turned up to 5 degrees (a scanned page) still runs along this many pixels of a row:
# its strokes are 3 px thick, and 3 / tan(5 degrees) is 34
RULE_SLOPE, RULE_BAND = 0.1, 6  # a chain of such pieces RULE long is a rule when it rises at most
# RULE_SLOPE of its length plus RULE_BAND pixels (a turned rule's staircase; a word's pieces are shorter)


def unruled(mask: np.ndarray, grey: np.ndarray | None = None) -> np.ndarray:
    """``mask`` (uint8 strokes) without its rules: the strokes that run straight along RULE pixels
    of a row or a column (a pane's frame, a colour box's outline, a scale), also where a page
    turned in the scanner makes them a staircase of shorter pieces (``_chained``). Text that
    touches or crosses one joins it, in ``lines_of``, into one shape too tall to be a line; no
    glyph is that long and straight. With ``grey`` (the image of ``mask``), a straight band of
    strokes as thick as a line of print whose grey changes along it nearly as much as across it
    stays (``_smooth``): a long line of small print, whose strokes' gradients join into one band."""
    rules = np.zeros_like(mask)
    changes = None
    for along_rows in (True, False):
        kernel = np.ones((1, RULE_PIECE) if along_rows else (RULE_PIECE, 1), np.uint8)
        runs = cv2.erode(mask, kernel)
        if not cv2.countNonZero(runs):
            continue  # no run of RULE_PIECE strokes, so no rule of RULE either (most masks of a later image)
        straight = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, RULE) if along_rows else (RULE, 1), np.uint8))
        if grey is not None:
            if changes is None:  # how much the grey changes along rows and along columns, for ``_smooth``
                changes = [cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, np.ones(shape, np.uint8))
                           for shape in ((1, 3), (3, 1))]
            along, across = changes if along_rows else changes[::-1]
            straight = _smooth(straight, along, across, along_rows)
        rules |= straight | _chained(mask, cv2.dilate(runs, kernel), along_rows)
    return mask & ~rules


RULE_THICK = 4.0  # a rule's strokes are at most this thick on average (a 2 px line's gradient is 4); a band
# of 5 px print is 4.4-8
RULE_ROUGH = 0.25  # ... and its grey changes along it at most this share of how much it changes across it
# (rules 0.0-0.17, lines of print 0.3-1.5; speckle 0.4-0.9)


def _smooth(found: np.ndarray, along: np.ndarray, across: np.ndarray, along_rows: bool) -> np.ndarray:
    """The parts of ``found`` (straight rules along rows or columns) that are rules: thin
    (RULE_THICK), or smooth along their length (RULE_ROUGH: ``along``, how much the grey changes
    along them, against ``across``); a band of small print is neither."""
    count, labels, stats = components_with_stats(found, 8)
    if count <= 1:
        return found
    length = stats[1:, 2] if along_rows else stats[1:, 3]
    thick = np.flatnonzero(stats[1:, 4] > RULE_THICK * length) + 1
    if not len(thick):
        return found
    out = found.copy()
    for index in thick:
        x, y, w, h = stats[index, :4]
        band = labels[y:y + h, x:x + w] == index
        if along[y:y + h, x:x + w][band].sum() >= RULE_ROUGH * across[y:y + h, x:x + w][band].sum():
            out[y:y + h, x:x + w][band] = 0
    return out


def _chained(mask: np.ndarray, pieces: np.ndarray, along_rows: bool) -> np.ndarray:
    """The ``pieces`` (``mask`` opened along rows, or columns, by RULE_PIECE: its runs of at least
    that many strokes) that join, 8-connected, into a chain at least RULE long, flat within
    RULE_SLOPE and RULE_BAND and turned (``_turned``): a slightly turned rule; with the strokes of
    ``mask`` beside them in line (a step's joints, and the shorter run at each end)."""
    count, labels, stats = components_with_stats(pieces, 8)
    length, rise = (stats[1:, 2], stats[1:, 3]) if along_rows else (stats[1:, 3], stats[1:, 2])
    out = np.zeros_like(mask)
    for index in np.flatnonzero((length >= RULE) & (rise <= RULE_SLOPE * length + RULE_BAND)) + 1:
        x, y, w, h = stats[index, :4]
        chain = labels[y:y + h, x:x + w] == index
        if _turned(chain if along_rows else chain.T):
            out[y:y + h, x:x + w] |= chain.astype(np.uint8)
    return cv2.dilate(out, np.ones((3, RULE_PIECE) if along_rows else (RULE_PIECE, 3), np.uint8)) & mask


RULE_TURN = 2.0  # rows a turned rule's ends lie apart; a straight one (the straight opening's) keeps
# the strokes of text that touch it


def _turned(chain: np.ndarray) -> bool:
    """The mean row of ``chain`` (a bool mask along its rows) at its first RULE_PIECE columns and at
    its last lie at least RULE_TURN rows apart."""
    rows, columns = np.nonzero(chain)
    first, last = columns < RULE_PIECE, columns >= chain.shape[1] - RULE_PIECE
    return abs(float(rows[first].mean()) - float(rows[last].mean())) >= RULE_TURN


def text_lines(image: np.ndarray, on_flat: bool = False) -> list[Box]:
    """Boxes of line-shaped clusters of sharp strokes: words and lines of text, and whatever else
    has their shape (ticks, speckle grains in a row), from the same strokes as ``propose``; a
    horizontal close joins the strokes of a word.

    ``on_flat``: only the lines whose surroundings are flat and that stand out from them
    (``_flat_around``), plus the lines of faint strokes (FAINT_CONTRAST) on flatter ground still,
    where sharp lines cover less than SHARP_SHARE of them: a label a few grey levels off its banner
    or off black, also where its line runs into a bright one (a faint 18 px label ending beside
    a device's own white text joined it, and was dropped while any overlap dropped it). The Otsu
    threshold of an image with tissue or bright text lies far above such strokes; flat ground is
    what tells them from texture."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    edges = gradient(grey)
    sharp = _sharp(edges)
    lines = lines_of(sharp)
    if not on_flat:
        return lines
    return _on_flat(grey, sharp, lines, FLAT_TOLERANCE, STANDOUT) + _faint(grey, edges, lines)


def faint_lines(image: np.ndarray, standout: float = 0.0, wanted: Callable[[Box], bool] | None = None) -> list[Box]:
    """The lines of faint strokes on flat ground that ``text_lines(on_flat=True)`` finds (labels a
    few grey levels off their banner or off black, whose strokes lie below the image's stroke
    threshold), that stand out from it by ``standout`` (``_flat_around``); with ``wanted``, only
    the lines it accepts (asked before the flatness test: the grain of a scanned page forms
    hundreds of faint lines)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    edges = gradient(grey)
    return _faint(grey, edges, lines_of(_sharp(edges)), standout, wanted)


def _faint(grey: np.ndarray, edges: np.ndarray, lines: list[Box], standout: float = 0.0,
           wanted: Callable[[Box], bool] | None = None) -> list[Box]:
    """Lines of strokes of FAINT_CONTRAST (``edges``: the gradient of ``grey``) that sharp
    ``lines`` cover less than SHARP_SHARE of (and ``wanted`` accepts), on ground flat within
    FAINT_TOLERANCE."""
    faint = (edges >= FAINT_CONTRAST).astype(np.uint8)
    taken = np.zeros(grey.shape, np.uint8)
    for x0, y0, x1, y1 in lines:
        taken[y0:y1, x0:x1] = 1
    more = [box for box in lines_of(faint) if taken[box[1]:box[3], box[0]:box[2]].mean() < SHARP_SHARE
            and (wanted is None or wanted(box))]
    return _on_flat(grey, faint, more, FAINT_TOLERANCE, standout)


FLAT_ASPECT = 2  # a line on flat ground is at least this many times as wide as high (JPEG's ringing around
# 5 px type on a page makes its line 17 px high and 49 wide; text_shaped wants 3x)


def flat_shaped(box: Box) -> bool:
    """``box``, a line of strokes on flat ground, is at least FLAT_ASPECT times as wide as high and
    TEXT_WIDTH wide."""
    return box[2] - box[0] >= max(TEXT_WIDTH, FLAT_ASPECT * (box[3] - box[1]))


def flat_lines(image: np.ndarray, wanted: Callable[[Box], bool] | None = None) -> list[Box]:
    """Lines of strokes of at least MIN_CONTRAST, rules taken out (``unruled``), at least
    FLAT_ASPECT times as wide as high and TEXT_WIDTH wide, on flat ground that they stand out
    from (``_flat_around``): also the small or light print on a page whose bold print, table
    rules and signature set the image's Otsu threshold far above it (5 px grey type on a scanned
    form: strokes of 50-60 grey levels, Otsu 90). On paper, a banner or black, the ground tells
    them from texture, as in ``text_lines(on_flat=True)``. With ``wanted``, only the lines it
    accepts (asked before the flatness test, which costs more)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    plain = unruled((gradient(grey) >= MIN_CONTRAST).astype(np.uint8), grey)
    shaped = [box for box in lines_of(plain) if flat_shaped(box) and (wanted is None or wanted(box))]
    return _on_flat(grey, plain, shaped, FLAT_TOLERANCE, STANDOUT)


LINE_RING = 3  # pixels around a line that belong to its surroundings
FLAT_LINE_SHARE = 0.5  # share of a line's surroundings within the tolerance of their median
MIN_GROUND = 0.2  # share of a line's window that must be ground (not strokes) to judge it
FAINT_CONTRAST = 12  # grey levels: the strokes of a faint label
FAINT_TOLERANCE = 4.0  # the ground of faint strokes is this flat (paper grain and JPEG noise on a
# scanned page form faint "lines" on ground that is flat only within FLAT_TOLERANCE)
SHARP_SHARE = 0.5  # a line of faint strokes that sharp lines cover this much of is theirs
STANDOUT = 3.0  # sharp strokes rise this many times the ground's spread above it (text on a banner
# or black: far more; grains of a radiograph after local contrast: 1-2)


def _on_flat(grey: np.ndarray, mask: np.ndarray, lines: list[Box], tolerance: float,
             standout: float = 0.0) -> list[Box]:
    strokes_near = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    return [box for box in lines if _flat_around(grey, strokes_near, box, tolerance, standout)]


def _flat_around(grey: np.ndarray, strokes_near: np.ndarray, box: Box, tolerance: float,
                 standout: float) -> bool:
    """The pixels in and around ``box`` that are not strokes (or next to one) are mostly one grey
    (within ``tolerance``): the line sits on a banner or the black surround, as burned-in text
    does. Between the grains of speckle or tissue they vary, and there a rendering that stretches
    local contrast shows texture, not text it could add. With ``standout``, the strokes must also
    differ from that grey by ``standout`` times the ground's own spread: smooth anatomy (a
    radiograph) is "flat" within a tolerance too, but its grains barely rise above it."""
    x0, y0, x1, y1 = box
    top, left = max(0, y0 - LINE_RING), max(0, x0 - LINE_RING)
    window = grey[top:y1 + LINE_RING, left:x1 + LINE_RING].astype(np.float32)
    near = strokes_near[top:y1 + LINE_RING, left:x1 + LINE_RING] > 0
    ground = window[~near]
    if ground.size < MIN_GROUND * window.size:
        return False
    level = float(np.median(ground))
    off = np.abs(ground - level)
    if float(np.mean(off <= tolerance)) < FLAT_LINE_SHARE:
        return False
    if not standout:
        return True
    rise = float(np.percentile(np.abs(window[near] - level), 90))
    return rise >= standout * max(1.0, float(np.percentile(off, 75)))


def lines_of(mask: np.ndarray) -> list[Box]:
    """Line-shaped clusters of a stroke mask (``text_lines`` on a mask built elsewhere). Only the
    bounding rectangle of the strokes is worked on, with a margin that keeps the close's edge
    effects where they are in the whole mask (a clip's masks of new strokes are sparse)."""
    x0, y0, width, height = cv2.boundingRect(mask)
    if width == 0:
        return []
    left, top = max(0, x0 - LINE_CLOSE), max(0, y0 - 1)
    right, bottom = min(mask.shape[1], x0 + width + LINE_CLOSE), min(mask.shape[0], y0 + height + 1)
    mask = cv2.morphologyEx(mask[top:bottom, left:right], cv2.MORPH_CLOSE, np.ones((1, LINE_CLOSE), np.uint8))
    count, _, stats = components_with_stats(mask, 8)
    stats = stats[1:count]
    width, height, area = stats[:, 2], stats[:, 3], stats[:, 4]  # judged at once: speckle makes hundreds
    kept = (height >= LINE_MIN_HEIGHT) & (height <= LINE_MAX_HEIGHT) & (area >= LINE_FILL * width * height)
    return [(int(x) + left, int(y) + top, int(x + w) + left, int(y + h) + top) for x, y, w, h, _ in stats[kept]]


PANEL_FLAT = 4  # grey levels a panel's pixel may differ from the mean of its 5x5 neighbours
PANEL_MIN_LEVEL = 12  # ... and the least grey of a panel (black is the surround, not a panel)
PANEL_HEIGHTS = (10, 48)  # a panel holds one line of text: this high (pixels) ...
PANEL_ASPECT = 2  # ... at least this many times as wide as high ...
PANEL_FILL = 0.6  # ... and flat over this share of its bounding box
PANEL_STEP = 16  # grey levels: pixels at or beside a step this high (a panel's edge) split panels


def panels(image: np.ndarray) -> list[Box]:
    """Boxes of flat panels of one line's size (banners, label plates): grey within PANEL_FLAT of
    its neighbourhood, not black. A label a few grey levels off its banner, through JPEG, forms no
    strokes at all (CLAHE lifts the banner's JPEG noise as much as the glyphs), but its banner is
    plain to see: such panels are where a look at a contrast-stretching rendering can find it.
    The close that fills a label's strokes also bridges a banner's edge to flat tissue around it
    (the blurred sector of a clip's static layer), so the panels are looked for again with the
    pixels at or beside a step of PANEL_STEP grey levels cut out after the close, and each part
    filled within its outline (the strokes of a label 25 levels off its banner form such steps
    too, and cut its inside apart). The panels found before the cut are kept as they are."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    flat = (cv2.absdiff(grey, cv2.blur(grey, (5, 5))) <= PANEL_FLAT) & (grey >= PANEL_MIN_LEVEL)
    closed = cv2.morphologyEx(flat.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    steps = cv2.dilate((gradient(grey) >= PANEL_STEP).astype(np.uint8), np.ones((3, 3), np.uint8))
    found = _panel_shaped(closed)
    cut = _filled(closed & (1 - steps))
    return found + [box for box in _panel_shaped(cut) if not any(_inside(box, f) for f in found)]


def _filled(mask: np.ndarray) -> np.ndarray:
    """``mask`` (uint8) with the holes of its parts filled: a banner's flat ring around its label,
    whose strokes' steps were cut out with the banner's edge."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros_like(mask)
    cv2.drawContours(out, contours, -1, 1, thickness=cv2.FILLED)
    return out


def _panel_shaped(mask: np.ndarray) -> list[Box]:
    """Bounding boxes of the parts of ``mask`` that have a panel's height, shape and fill."""
    count, _, stats = components_with_stats(mask, 4)
    low, high = PANEL_HEIGHTS
    return [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, area in stats[1:count]
            if low <= h <= high and w >= PANEL_ASPECT * h and area >= PANEL_FILL * w * h]


def _inside(box: Box, outer: Box) -> bool:
    """``box`` lies within ``outer``."""
    return outer[0] <= box[0] and outer[1] <= box[1] and box[2] <= outer[2] and box[3] <= outer[3]


BAND_FILL = 0.95  # a line of one colour that its colour fills this much is a band of a colour bar (a Doppler
# scale's legend, one colour a row: 0.99-1.0 on US1), not type, whose strokes leave ground between them (the
# recall sweep's colour labels: at most 0.76 in their hue sector through JPEG, 0.46 by exact colour)


def _band(mask: np.ndarray, box: Box) -> bool:
    """The line ``box`` of a colour's pixels (``mask``) is a band of a colour bar (BAND_FILL)."""
    x0, y0, x1, y1 = box
    return float(mask[y0:y1, x0:x1].mean()) >= BAND_FILL


def _rims(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` (uint8) at its edge: a glyph's thin strokes whole, a blob's rim."""
    return mask & (1 - cv2.erode(mask, np.ones((3, 3), np.uint8)))


def colour_lines(image: np.ndarray, where: np.ndarray | None = None) -> list[tuple[int, Box]]:
    """(hue sector, line) for the text-shaped lines (``text_shaped``) of each hue sector's
    coloured pixels (``hue_sectors``; only those in ``where``, when given) that are not bands of
    a colour bar (``_band``): where type of one colour may be, also where its luminance is that of
    the tissue under it or it crosses flow of other colours."""
    sectors = hue_sectors(image, where)
    found = np.flatnonzero(np.bincount(sectors[sectors >= 0].ravel(), minlength=HUE_SECTORS))
    out = []
    for sector in found:
        mask = (sectors == sector).astype(np.uint8)
        out += [(int(sector), box) for box in lines_of(_rims(mask)) if text_shaped(box) and not _band(mask, box)]
    return out


HUES = tuple(round(256 * k / HUE_SECTORS) for k in range(HUE_SECTORS))  # red, yellow, green, cyan, blue, magenta
HUE_SOLID = 0.85  # a line of one hue whose box is coloured over this share is a blob of flow: type leaves
# ground between its strokes (red type over US1, through JPEG too: 0.30-0.79; the yellow heart of a
# red-to-yellow Doppler blob: 0.88-0.95)
HUE_RING = 4  # pixels around a line of one hue ...
HUE_AMID = 0.6  # ... of which at most this share may be coloured: type over tissue has grey around it (red
# type over US1: 0.0-0.40), a piece of flow has flow (US1's red pieces: 0.35-0.79)
HUE_STROKES = 0.15  # share of a line's pixels that are strokes (a gradient of STROKE_RISE) in its hue's
STROKE_RISE = 48  # rendering: type's strokes are sharp (red type over US1, through JPEG too: 0.24-0.96),
# flow is smooth (pieces of red flow in US1 and in its half-size copy: 0.0-0.22)


def hue_lines(image: np.ndarray, where: np.ndarray | None = None) -> list[tuple[int, Box]]:
    """(hue, line) for the text-shaped lines of the coloured pixels (only those in ``where``, when
    given) within HUE_CORE of each of the six pure hues (``HUES``), judged on the image (the rims
    of those pixels, as ``colour_lines`` takes them) and on it blurred over HUE_BLUR pixels (the
    hue of 8 px type's thin strokes through JPEG is noisy), that are neither solid colour nor amid
    colour (``_apart``) and show strokes in that hue's rendering (``_stroked``). Red type through
    JPEG next to red-to-yellow Doppler joins the flow in its hue sector (``colour_lines``) and has
    no exact colour left (``ink_lines``), but in red's core hue it stands nearly alone."""
    coloured = coloured_pixels(image)
    if not (coloured if where is None else coloured & where).any():  # none where asked; blurred, none either
        return []  # (a blurred pixel is no more coloured than the most coloured one around it)
    blurred = cv2.blur(image, (HUE_BLUR, HUE_BLUR))
    out: dict[tuple[int, Box], None] = {}
    for seen, seen_coloured, rims in ((image, coloured, True), (blurred, coloured_pixels(blurred), False)):
        strong = seen_coloured if where is None else seen_coloured & where
        if not strong.any():
            continue
        for hue, distance in zip(HUES, hue_distances(seen, HUES, strong)):
            mask = (distance <= HUE_CORE).astype(np.uint8)
            out.update(((hue, box), None) for box in lines_of(_rims(mask) if rims else mask)
                       if text_shaped(box) and _apart(coloured, box) and _stroked(image, hue, box))
    return list(out)


def _apart(coloured: np.ndarray, box: Box) -> bool:
    """A line of one hue is not solid colour (HUE_SOLID) and not amid colour (HUE_AMID): type over
    tissue, not a piece of flow."""
    x0, y0, x1, y1 = box
    inside = int(coloured[y0:y1, x0:x1].sum())
    if inside > HUE_SOLID * (x1 - x0) * (y1 - y0):
        return False
    around = coloured[max(0, y0 - HUE_RING):y1 + HUE_RING, max(0, x0 - HUE_RING):x1 + HUE_RING]
    return int(around.sum()) - inside <= HUE_AMID * (around.size - (x1 - x0) * (y1 - y0))


def _stroked(image: np.ndarray, hue: int, box: Box) -> bool:
    """The line ``box`` of one hue shows strokes (HUE_STROKES) in that hue's rendering (``hue_rendering``)."""
    x0, y0, x1, y1 = box
    left, top = max(0, x0 - HUE_BLUR), max(0, y0 - HUE_BLUR)
    shown = hue_rendering(np.ascontiguousarray(image[top:y1 + HUE_BLUR, left:x1 + HUE_BLUR]), hue)[..., 0]
    edges = gradient(shown)[y0 - top:y1 - top, x0 - left:x1 - left]
    return float(np.mean(edges >= STROKE_RISE)) >= HUE_STROKES


INK_COLOURS = 6  # "one ink": the most frequent exact colours among an image's coloured pixels tried ...
INK_PIXELS = 40  # ... each held by at least this many pixels ...
INK_TOLERANCE = 24  # ... with the pixels within this many levels of it in every channel ...
INK_THIN = 0.5  # ... where at most this share of those survive a 3x3 erosion (strokes, not a blob of flow)


def ink_lines(image: np.ndarray) -> list[tuple[tuple[int, int, int], Box]]:
    """(colour, line) for the text-shaped lines (``text_shaped``, not a colour bar's bands:
    ``_band``) of the pixels within INK_TOLERANCE of each of the INK_COLOURS most frequent exact
    colours of ``image`` (RGB) that form thin strokes: type is drawn in one colour, while flow is
    a ramp of a palette's colours.
    Red type over red-to-yellow Doppler shares its hue sector with the flow, and its strokes join
    the flow's in ``colour_lines``; by its exact colour it stands alone (pure red: no pixel of US1's
    flow lies within 48 levels of it)."""
    pixels = image[coloured_pixels(image)].astype(np.int32)
    if len(pixels) < INK_PIXELS:
        return []
    values, counts = np.unique((pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2], return_counts=True)
    out = []
    for index in np.argsort(-counts)[:INK_COLOURS]:
        if counts[index] < INK_PIXELS:
            break
        value = int(values[index])
        colour = (value >> 16, (value >> 8) & 255, value & 255)
        mask = (off_colour(image, colour) <= INK_TOLERANCE).astype(np.uint8)
        if _thin(mask, INK_THIN):
            out += [(colour, box) for box in lines_of(mask) if text_shaped(box) and not _band(mask, box)]
    return out


def _thin(mask: np.ndarray, share: float) -> bool:
    """The pixels of ``mask`` (uint8) form thin strokes: at most ``share`` of them survive a 3x3
    erosion (not a blob of flow, a banner, the black surround)."""
    return cv2.countNonZero(cv2.erode(mask, np.ones((3, 3), np.uint8))) <= share * cv2.countNonZero(mask)


LEVELS = 6  # "one grey": of the greys held by at least LEVEL_FLAT flat pixels (a flat pixel: its right and
# lower neighbours hold its grey) and by more than any grey LEVEL_APART levels or fewer from it, the LEVELS held
# by the most are tried (color3d's near-black greys 1-6, each below its darker neighbour, outnumber 25 grey
# truetype type: taken first, they left it out) ...
LEVEL_FLAT = 40
LEVEL_APART = 3  # (JPEG leaves greys 1-2 in strokes along the edges of the black surround, next to its flat black)
LEVEL_THIN = 0.75  # ... where at most this share of its pixels survive a 3x3 erosion (bold 36 px type: 0.54;
# a banner's or the surround's grey: over 0.9)
LEVEL_SPECK = 4  # pixels of the grey in clusters of fewer than this are the speckle's (US1: 2 of 1032 clusters
# of its grey 25 hold 4); larger ones are pieces of strokes ...
LEVEL_JOIN = (5, 2 * LINE_CLOSE + 3)  # ... and pieces this close (rows, columns) form one line: thin strokes
# keep their exact grey only here and there (an 8 px label: 46 pixels in clusters of 1-4) ...
LEVEL_PIECES = 3  # ... of at least this many pieces ...
LEVEL_TALL = 48  # ... at most this tall (36 px type: 37 rows; a CT's near-black noise around the body: 85) ...
LEVEL_BLUR = 4  # ... whose surroundings (all but the greys this close to theirs: anti-aliasing) ...
LEVEL_CONTRAST = 12  # ... lie this many levels off their grey (median; 25 grey type over US1's tissue: 15-42,
# the flat patches of a smooth dark echo: 6-11)
LEVEL_MOMENT = 2  # a frame of a clip holds a grey beyond the usual when it has this many times as many flat pixels
# of it as its frames usually have (and LEVEL_FLAT more): the black and near-black greys of a sector vary by
# thousands from frame to frame (color3d in RGB: grey 1 in 2009-2841), type shown for a moment adds a grey the
# frames hold little of (25 grey: 6 usually)


def flat_counts(image: np.ndarray) -> np.ndarray:
    """Per grey (256 floats), how many pixels of ``image`` (RGB) are of that grey and flat: their
    right and lower neighbours hold it too."""
    return _flat(image)[2]


def beyond(counts: np.ndarray, usual: np.ndarray) -> np.ndarray:
    """``counts`` (``flat_counts``) less ``usual`` (those a clip's frames usually hold), per grey
    held at least LEVEL_MOMENT times as often as usual; 0 for the other greys."""
    return np.where(counts >= LEVEL_MOMENT * usual, counts - usual, 0)


def _flat(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(red channel, mask of neutral pixels, ``flat_counts``) of ``image`` (RGB)."""
    red, green, blue = cv2.split(image)
    neutral = cv2.bitwise_and(cv2.compare(red, green, cv2.CMP_EQ), cv2.compare(green, blue, cv2.CMP_EQ))
    flat = np.zeros_like(neutral)
    flat[:-1, :-1] = neutral[:-1, :-1] & cv2.compare(red[:-1, :-1], red[:-1, 1:], cv2.CMP_EQ) & cv2.compare(
        red[:-1, :-1], red[1:, :-1], cv2.CMP_EQ)
    return red, neutral, cv2.calcHist([red], [0], flat, [256], [0, 256]).ravel()


def level_lines(image: np.ndarray, usual: np.ndarray | None = None) -> list[tuple[int, Box]]:
    """(grey, line) for the text-shaped lines of the pieces of strokes of exactly one grey, for
    each of the LEVELS greys (see there) held by the most flat pixels of ``image`` (RGB) whose
    pixels form thin strokes: type is drawn in one grey, flat inside its strokes, while
    speckle's pixels of any one grey are scattered and seldom flat (on US1 no grey but black,
    white and a marker's has LEVEL_FLAT flat pixels; 25 grey type adds 140-3400). Dark grey
    type over tissue is no darker than the speckle's grains and the hollows of anatomy, so it
    forms no line in any rendering by brightness; by its exact grey it stands alone. Lossy compression leaves no
    grey of fine strokes exact; the flat ground of a small banner it leaves so, and between the
    glyphs that ground forms the pieces of a line too (its type then dark in the look).
    With ``usual`` (``flat_counts`` per grey, as a clip's frames usually hold them), a frame of a
    clip is searched for the greys it holds ``beyond`` the others only."""
    red, neutral, counts = _flat(image)
    out = []
    for level, exact in _stroke_levels(red, neutral, counts, usual):
        _, labels, stats = components_with_stats(exact, 8)
        big = stats[:, 4] >= LEVEL_SPECK
        big[0] = False
        out += [(level, box) for box in _level_lines(red, level, np.where(big[labels], labels, 0))]
    return out


def stroke_levels(image: np.ndarray, usual: np.ndarray | None = None) -> list[int]:
    """The greys whose lines ``level_lines`` looks for in ``image`` (RGB; beyond ``usual``, when
    given): of the LEVELS held by the most flat pixels, those whose pixels form thin strokes."""
    return [level for level, _ in _stroke_levels(*_flat(image), usual)]


def _stroke_levels(red: np.ndarray, neutral: np.ndarray, counts: np.ndarray,
                   usual: np.ndarray | None) -> Iterator[tuple[int, np.ndarray]]:
    """(grey, mask of its neutral pixels) for each grey of ``stroke_levels``, from ``_flat``'s parts."""
    if usual is not None:
        counts = beyond(counts, usual)
    padded = np.pad(counts, LEVEL_APART)
    steps = [step for step in range(-LEVEL_APART, LEVEL_APART + 1) if step]
    nearby = np.max([padded[LEVEL_APART + step:LEVEL_APART + step + 256] for step in steps], axis=0)
    peaks = np.where((counts >= LEVEL_FLAT) & (counts > nearby), counts, 0)
    for level in np.argsort(-peaks)[:LEVELS]:
        if not peaks[level]:
            break
        exact = neutral & cv2.compare(red, int(level), cv2.CMP_EQ)
        if _thin(exact, LEVEL_THIN):  # else a ground, not strokes (the speckle's scattered pixels only lower it)
            yield int(level), exact


def _level_lines(grey: np.ndarray, level: int, pieces: np.ndarray) -> list[Box]:
    """The text-shaped lines of ``pieces`` (labels, 0 for none) of strokes of grey ``level`` in
    ``grey``: pieces within LEVEL_JOIN of each other, at least LEVEL_PIECES of them (an ECG trace
    in one grey is one long piece), at most LEVEL_TALL high, standing out from what surrounds
    them (LEVEL_CONTRAST: the flat patches of a smooth dark echo hold one grey too, amid greys a
    few levels off it)."""
    rows, cols = LEVEL_JOIN
    mask = (pieces > 0).astype(np.uint8)
    count, joined, stats = components_with_stats(cv2.dilate(mask, np.ones(LEVEL_JOIN, np.uint8)), 8)
    inside = mask > 0
    pairs = np.unique(joined[inside].astype(np.int64) << 32 | pieces[inside])
    per_line = np.bincount((pairs >> 32).astype(np.int64), minlength=count)
    out = []
    for index in np.flatnonzero(per_line >= LEVEL_PIECES):
        x, y, w, h, _ = stats[index]
        box = (int(x) + cols // 2, int(y) + rows // 2, int(x + w) - cols // 2, int(y + h) - rows // 2)
        if text_shaped(box) and box[3] - box[1] <= LEVEL_TALL and _stands_out(grey, level, mask, box):
            out.append(box)
    return out


def _stands_out(grey: np.ndarray, level: int, mask: np.ndarray, box: Box) -> bool:
    """The pixels around the pieces of ``mask`` in ``box`` (within 2 px, off ``level`` by more
    than anti-aliasing's few levels) lie LEVEL_CONTRAST or more levels off ``level`` (median)."""
    x0, y0, x1, y1 = max(0, box[0] - 2), max(0, box[1] - 2), box[2] + 2, box[3] + 2
    off = cv2.absdiff(grey[y0:y1, x0:x1], level)
    ring = (cv2.dilate(mask[y0:y1, x0:x1], np.ones((5, 5), np.uint8)) > 0) & (off > LEVEL_BLUR)
    return bool(ring.any()) and float(np.median(off[ring])) >= LEVEL_CONTRAST


def dark_on_bright(ink: np.ndarray, outside: Sequence[Box] = ()) -> list[Box]:
    """Text-shaped lines (``text_shaped``) of the pixels an "ink" rendering shows (the darkest
    quarter of the range: light there) that touch its black (bright ground in the image), outside
    the ``outside`` boxes: where dark type over a bright ground may be that those boxes left
    unread. A page or a screenshot whose dark type the full rendering read, or an image with no
    dark pixel next to a bright one, has none: its "ink" rendering need not be read."""
    grey = cv2.cvtColor(ink, cv2.COLOR_RGB2GRAY)
    edges = (grey > 0).astype(np.uint8) & cv2.dilate((grey == 0).astype(np.uint8), np.ones((3, 3), np.uint8))
    for x0, y0, x1, y1 in outside:
        edges[y0:y1, x0:x1] = 0
    return [box for box in lines_of(edges) if text_shaped(box)]
