"""What a first look left unread, looked at again close up: lines of strokes that have the shape
of a line of text (small type over tissue), lines that run up or down the image, lines of one
colour, and lone glyph-like marks (the detector's ``marks``)."""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from ..policy import Policy
from .boxes import Box, Detection, join_lines, shifted
from .looks import (COVERED, GLYPH, LINE_COVERED, Looks, coverage, crop_of, line_like, share_covered, whole_zoom,
                    zoom_to)
from .proposer import (MIN_CONTRAST, STANDOUT, colour_lines, faint_lines, flat_lines, flat_shaped, gradient, hue_lines,
                       ink_lines, level_lines, lines_of, propose, stroke_level, strokes, text_shaped, unruled)
from .registry import Detector
from .renderings import (colour_plane, coloured, coloured_pixels, hue_rendering, least_channel, level_rendering,
                         localise, near_rendering, neutral)

LIGHT = 140  # grey level: light type (white, light grey) over tissue, whose lines a vertical label's light
# pixels form where its strokes join the speckle's (US1's tissue lies below it but for a few grains)
RECHECK_HEIGHT = 40  # a line of strokes that OCR left uncovered and that has the shape of text is looked
# at again magnified to about this height (pixels; 8 px type forms lines of 12-17), between MIN_ZOOM and
# ZOOM times the whole-image pass
JOIN_GAP = 2  # unread lines on one row less than this many times the taller one's height apart are looked at as one


def closer_zoom(image: np.ndarray, box: Box, policy: Policy) -> float:
    """The magnification of a closer look at ``box`` (a line of strokes, a place, a box read small):
    to about RECHECK_HEIGHT (``zoom_to``), over the whole-image pass's."""
    return whole_zoom(image, policy) * zoom_to(box, RECHECK_HEIGHT)


def closer_look(image: np.ndarray, frame: int, known: Sequence[Box], looks: Looks,
                wanted: Callable[[Box], bool] | None = None) -> None:
    """Queue a zoomed look at every (wanted) proposer mark that OCR left uncovered, magnified to
    about GLYPH pixels: a 10 px letter 3x, a 20 px one 1.5x (CRAFT reads it as well there, and
    a look costs the square of the zoom). Covered marks are left out before the proposer's
    MAX_PROPOSALS, not after: a grid of 240 lone digits that DB read filled it, and a lone digit
    below them got no look."""
    share = coverage(image.shape, known)

    def unread(box: Box) -> bool:
        return share(box) < COVERED and (wanted is None or wanted(box))
    for proposal in propose(image, unread):
        looks.add(frame, image, proposal, zoom_to(proposal, GLYPH))


def unread_run(line: Box, known: Sequence[Box]) -> int:
    """The longest run of columns of ``line`` that no ``known`` box on its row (overlapping half
    the height of the lower of the two) covers: a line of text is read when no such run is longer
    than half its height, whatever the size of the boxes that read it (a box from a look at half
    size reaches further around its text than the full rendering's box of the same line, above,
    below and past its ends, by up to about that much; a word left unread is a longer run)."""
    return longest_unread(columns_read(line, known))


def longest_unread(read: np.ndarray) -> int:
    """The longest run of columns that ``read`` (``columns_read``) leaves False."""
    bounded = np.concatenate(([True], read, [True]))
    return int(np.diff(np.flatnonzero(bounded)).max()) - 1


def columns_read(line: Box, known: Sequence[Box]) -> np.ndarray:
    """Which columns of ``line`` a ``known`` box on its row (overlapping half the height of the
    lower of the two) covers."""
    x0, y0, x1, y1 = line
    read = np.zeros(max(0, x1 - x0), bool)
    for a0, b0, a1, b1 in known:
        if min(y1, b1) - max(y0, b0) >= min(y1 - y0, b1 - b0) / 2:
            read[max(0, a0 - x0):max(0, a1 - x0)] = True
    return read


def line_read(line: Box, known: Sequence[Box]) -> bool:
    """``known`` reads ``line``: no run of its columns longer than half its height is left
    unread (``unread_run``)."""
    return unread_run(line, known) <= (line[3] - line[1]) // 2


def _unread_lines(image: np.ndarray, known: Sequence[Box]) -> list[Box]:
    """Lines of sharp strokes in ``image``, on any ground, that have the shape of a line of text
    and that OCR left uncovered (``known``). At 1x DB gives no probability to some text over
    tissue: 8 px type, and words whose thin strokes cross colour Doppler (it read "SMITH" and not
    "JOHN" on one line); magnified up to 3x it reads most (benchmarks/recall_sweep.py). Speckle
    forms lines too, but seldom three times as wide as high, so few are looked at. Lines are
    also looked for with rules taken out (``unruled``): 5-6 px type 3 px below a pane's frame
    joins it into one shape too tall for a line (the sweep's "small" group: white labels over
    US1 to which DB gave no box, or one that stopped a word short)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    sharp = strokes(grey)
    lines = lines_of(sharp)
    seen = set(lines)
    lines += [line for line in lines_of(unruled(sharp, grey)) if line not in seen]
    return joined(_unread(lines, known))


COLOUR_REACH = 32  # px around an image's coloured pixels in which lines over colour are looked for


def _lines_over_colour(image: np.ndarray, known: Sequence[Box], window: Box | None = None) -> list[Box]:
    """Lines of strokes of the least channel (the "neutral" rendering) around the coloured pixels
    of ``image`` (in ``window``, when given) that have a line's shape, that ``known`` leaves unread
    (``read_to_ends``) and whose crop holds colour: grey type over colour flow. In luminance the
    flow is as bright as the type and its edges join the type's strokes into no line; in the
    least channel the flow turns dark (a 6 px grey "ST ELSEWHERE" over US1's flow: no line in
    the grey image, one here, and DB reads it in "neutral")."""
    part, left, top = _part(image, window)
    x, y, width, height = cv2.boundingRect(coloured_pixels(part).astype(np.uint8))
    if width == 0:
        return []
    least = least_channel(part)
    x0, y0 = max(0, x - COLOUR_REACH), max(0, y - COLOUR_REACH)
    x1, y1 = min(part.shape[1], x + width + COLOUR_REACH), min(part.shape[0], y + height + COLOUR_REACH)
    lines = [shifted(line, x0 + left, y0 + top) for line in lines_of(strokes(least[y0:y1, x0:x1]))]
    return [line for line in joined(_unread(lines, known)) if coloured(crop_of(image, line)[0])]


def joined(lines: Sequence[Box]) -> list[Box]:
    """``lines`` with those on one row less than JOIN_GAP times the taller one's height apart
    joined into one (``join_lines``): where a label crosses colour flow or bright speckle its
    strokes join the image's into a shape that is no line, and its line of strokes breaks in two;
    a look at each piece reads each in part (an 18 px grey "ACC 99887766" over US1's flow, new in
    a later image of its layout: its middle letters in neither piece)."""
    return [line for line, _ in join_lines(lines, JOIN_GAP)]


def read_to_ends(line: Box, known: Sequence[Box]) -> bool:
    """``known`` covers LINE_COVERED of ``line`` and reads it (``line_read``: no run of its columns
    longer than half its height left unread): a box that stops a letter short of a line's end
    covers most of it (a dark red 18 px "ACC 99887766" burned into a clip, its last "6" left:
    0.91 of the line)."""
    return share_covered(line, known) >= LINE_COVERED and line_read(line, known)


def _unread(lines: Sequence[Box], known: Sequence[Box]) -> list[Box]:
    """Of ``lines`` of strokes, those with the shape of a line of text (``text_shaped``) that
    ``known`` leaves unread (``read_to_ends``)."""
    return [box for box in lines if text_shaped(box) and not read_to_ends(box, known)]


def _part(image: np.ndarray, window: Box | None) -> tuple[np.ndarray, int, int]:
    """The pixels of ``image`` in ``window`` (all of them without one), and the window's left and top."""
    if window is None:
        return image, 0, 0
    x0, y0, x1, y1 = window
    return np.ascontiguousarray(image[y0:y1, x0:x1]), x0, y0


def recheck(image: np.ndarray, frame: int, known: Sequence[Box], looks: Looks, policy: Policy,
            wanted: Callable[[Box], bool] = lambda box: True, coloured_where: np.ndarray | None = None,
            window: Box | None = None) -> None:
    """Queue a closer look (RECHECK_HEIGHT) at every (wanted) line on flat ground (``flat_lines``)
    left unread (``line_read``), looked at again with DB's training normalisation where the first
    look leaves it unread (5 px type on a page through JPEG: [-1, 1] reads none of it, the
    training normalisation all); at every line of faint strokes on flat ground (``faint_lines``)
    that stands out from it (STANDOUT) and has a line's shape (``flat_shaped``), and that ``known``
    does not read to its ends (``read_to_ends``), in the "local" rendering of its crop (``localise``): the
    strokes of a 5 px label 25 grey levels above black lie below MIN_CONTRAST, the whole passes
    give it no box or one a letter short, and close up "full" and "enhanced" read none of it
    (the sweep's "small" group; the paper grain of a scanned page forms faint lines that do not
    stand out); at every other line ``_unread_lines`` finds, a box that runs to the side of that
    crop followed along the line (``follow``: a 7 px grey "DOB 1971-04-09" over US1's dark tissue,
    whose line of strokes ends at "1971-" where the speckle turns brighter), and where the line's crop holds
    colour, at the "neutral" rendering too (white text over colour flow), reaching along the line
    (``wide``): where a label runs into the flow its strokes join the flow's, and its line ends
    there (a 12 px grey "DOE JANE 1960" over US1: the line stopped 32 px short of its end, and the
    crop 15 px short); at lines of the least channel around colour flow that those lines leave
    out (``_lines_over_colour``: grey type over the flow), in "neutral" (the recall sweep's small
    type over US1's tissue: 59 -> 62 of 72); and at lines of one colour (``colour_looks``; of the pixels in
    ``coloured_where``, when given). With a ``window`` (a later image: the part of it that changed,
    with a margin), the lines on flat ground and over colour are looked for there only."""
    part, left, top = _part(image, window)
    home = functools.partial(shifted, dx=left, dy=top)  # a box of the part -> the image's
    flat = [home(line) for line in flat_lines(part, lambda box: wanted(home(box)) and not line_read(home(box), known))]
    for line in flat:
        looks.add(frame, image, line, closer_zoom(image, line, policy), again=True)
    faint = [home(line) for line in faint_lines(part, STANDOUT, lambda box: flat_shaped(box) and wanted(home(box))
                                                and not read_to_ends(home(box), known))]
    for line in faint:
        if share_covered(line, flat) < LINE_COVERED:
            looks.add(frame, image, line, closer_zoom(image, line, policy), rendering="local", render=localise)
    unread = _unread_lines(image, known)
    for line in unread:
        if not wanted(line) or share_covered(line, flat) >= LINE_COVERED:
            continue
        zoom = closer_zoom(image, line, policy)
        looks.add(frame, image, line, zoom, follow=True)
        if coloured(crop_of(image, line)[0]):
            looks.add(frame, image, line, zoom, wide=True, rendering="neutral", render=neutral)
    for line in _lines_over_colour(image, known, window):
        if wanted(line) and share_covered(line, [*flat, *unread]) < LINE_COVERED:
            looks.add(frame, image, line, closer_zoom(image, line, policy), wide=True, rendering="neutral",
                      render=neutral)
    looks_by_colour(image, frame, known, looks, policy, wanted, coloured_where)
    level_looks(image, frame, known, looks, policy, wanted)


def _turn(box: Box, shape: tuple[int, ...]) -> Box:
    """``box`` of an image of ``shape`` in that image turned a quarter clockwise (``turned``)."""
    x0, y0, x1, y1 = box
    return shape[0] - y1, x0, shape[0] - y0, x1


def _unturn(box: Box, shape: tuple[int, ...]) -> Box:
    """A box of the image of ``shape`` turned a quarter clockwise, in that image."""
    x0, y0, x1, y1 = box
    return y0, shape[0] - x1, y1, shape[0] - x0


def _light(image: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """Light pixels of ``image`` (grey at least LIGHT, not coloured) at or beside a sharp stroke
    (uint8 mask): white or grey type, whose strokes are edges; not the smooth bright areas of
    anatomy (a radiograph's bone), which in a mask of light pixels alone read as blobs of text."""
    edges = cv2.dilate((gradient(grey) >= MIN_CONTRAST).astype(np.uint8), np.ones((3, 3), np.uint8))
    return ((grey >= LIGHT) & ~coloured_pixels(image) & (edges > 0)).astype(np.uint8)


def light_shown(light: np.ndarray) -> np.ndarray:
    """A mask of light pixels as an RGB image DB reads: white on black."""
    return cv2.cvtColor(light * 255, cv2.COLOR_GRAY2RGB)


def turned_read(image: np.ndarray, known: Sequence[Box], policy: Policy, detector: Detector,
                wanted: Callable[[Box], bool] = lambda box: True, window: Box | None = None) -> list[Detection]:
    """Vertical lines of text: the lines of strokes (rules taken out, ``unruled``: a label crossing
    a pane's frame joins it into one shape too tall for a line) of ``image`` turned a quarter
    clockwise (``turned``) that have the shape of text and that ``known`` leaves unread (and
    ``wanted`` accepts, in the image's coordinates), looked at there, magnified to about
    RECHECK_HEIGHT. DB reads lines along the rows; a label running up or down the image (a
    radiograph's name plate when the image was turned, an axis title, a vendor's vertical scale
    legend) it reads in pieces or not at all; turned, the line lies along the rows, upright or
    upside down, and it reads it whole. Speckle forms few lines three times as tall as wide, so
    an ultrasound frame gets few looks (two on US1, none on color3d).

    Over tissue the strokes of a label join the speckle's into shapes that are not lines; the
    light pixels (``_light``: white or grey type at its edges) form its line there. Each such
    line is looked at in the image (where no line of strokes covers it) and in the light pixels
    themselves, white on black without rules, reaching along the line: in the image DB reads
    such a label in pieces where colour flow or a pane's frame crosses it (the middle of an 18 px
    grey "MRN 455667"), in its light pixels whole (vertical labels over US1's panes, white and
    grey: 12 -> 38 of 72 with the image, 74 -> 101 of 108 with the light pixels too,
    benchmarks/recall_sweep.py). Where a line's crop holds colour, it is also looked at in the
    turned "neutral" rendering (the least channel, as ``recheck`` does for lines along the rows),
    reaching along the line: white or grey type over yellow flow is as bright as the flow, joins
    no stroke or light pixel there, and the other looks stop where the flow begins (a 12 px grey
    "SMITH^JOHN" running up US1's pane, "SMITH" over the flow: "JOHN" read). A box of the look
    at the turned image that runs to its crop's side is followed along the line (``follow``: an
    8 px grey label up US1's pane through JPEG, read to the side of its crop, 9 px short).

    With a ``window`` (a later image: the part of it that changed, with a margin), the lines are
    looked for there only, its strokes at the whole image's ``stroke_level``."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    part, left, top = _part(image, window)
    part_grey = _part(grey, window)[0]
    level = None if window is None else stroke_level(gradient(grey))
    light = unruled(cv2.rotate(_light(part, part_grey), cv2.ROTATE_90_CLOCKWISE))
    read = [_turn(shifted(box, -left, -top), part.shape) for box in known]

    def home(line: Box) -> Box:
        """A line of the turned part, in the image."""
        return shifted(_unturn(line, part.shape), left, top)

    lines = [home(line) for line in _unread(lines_of(unruled(strokes(cv2.rotate(part_grey, cv2.ROTATE_90_CLOCKWISE),
                                                                     level))), read) if wanted(home(line))]
    lights = [home(line) for line in _unread(lines_of(light), read) if wanted(home(line))]
    if not lines and not lights:  # most images: turning the image itself costs more than finding its lines
        return []
    lines, lights = [_turn(line, image.shape) for line in lines], [_turn(line, image.shape) for line in lights]
    turned = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if window is not None:  # the looks see the whole image's light pixels, as its lines of strokes
        light = unruled(cv2.rotate(_light(image, grey), cv2.ROTATE_90_CLOCKWISE))
    shown = light_shown(light)
    zoom = whole_zoom(image, policy)
    looks = Looks(detector, "turned")
    for line in lines + [line for line in lights if share_covered(line, lines) < COVERED]:
        looks.add(0, turned, line, zoom * zoom_to(line, RECHECK_HEIGHT), rendering="turned", follow=True)
    for line in lights:
        looks.add(0, shown, line, zoom * zoom_to(line, RECHECK_HEIGHT), wide=True, rendering="turned")
    along = Looks(detector, "turned")
    for line in dict.fromkeys(lines + lights):  # each line once
        if coloured(crop_of(turned, line)[0]):
            along.add(0, turned, line, zoom * zoom_to(line, RECHECK_HEIGHT), wide=True, rendering="turned",
                      render=neutral)
    found = [d for _, d in looks.run()] + [d for _, d in along.run() if line_like(d.box)]
    return [Detection(_unturn(d.box, image.shape), d.detector, d.rendering) for d in found]


def looks_by_colour(image: np.ndarray, frame: int, known: Sequence[Box], looks: Looks, policy: Policy,
                    wanted: Callable[[Box], bool] = lambda box: True, where: np.ndarray | None = None) -> None:
    """Queue the looks at lines of colour (of the pixels in ``where``, when given), in order: of one
    hue sector (``colour_looks``), of a pure hue's core (``hue_looks``) and of one exact colour
    (``ink_looks``), the last two where the first leaves a line uncovered. Single and later
    images (``recheck``) and a clip's static layer; a clip's frames look by hue sector only."""
    looked = colour_looks(image, frame, known, looks, policy, wanted, where)
    hue_looks(image, frame, known, looks, policy, wanted, where, looked)
    ink_looks(image, frame, known, looks, policy, wanted, looked)


def colour_looks(image: np.ndarray, frame: int, known: Sequence[Box], looks: Looks, policy: Policy,
                 wanted: Callable[[Box], bool] = lambda box: True, where: np.ndarray | None = None,
                 source: Callable[[], np.ndarray] | None = None) -> list[Box]:
    """Queue a closer look (RECHECK_HEIGHT) at every (wanted) line of one colour that ``known``
    leaves uncovered (``colour_lines``), in that colour's plane (``colour_plane``), where the
    policy asks for "colour". Blue, magenta or dark red type over grey tissue has about the
    tissue's luminance and forms no strokes in the image (US1 with blue labels over its panes:
    6 of 18 removed); in its plane it is alone, light on black (17 of 18; the recall sweep's
    "colour" group). Type of the hue of the flow under it (red over red-yellow Doppler) shares
    the flow's plane: ``ink_looks`` looks at it by its exact colour. The look reaches along the
    line (``wide``): a line of one colour is often only a piece of its label, where JPEG blurs the
    colour of thin strokes into the next hue or below the chroma of colour (a 12 px dark blue
    label over US1 forms two blue lines, its middle letters magenta and grey): colour 188 -> 193
    of 216 (benchmarks/recall_sweep.py). A box over most of its line is widened to it
    (``Looks.add``'s ``widen``: in the plane DB may leave a first letter out; colour 206 -> 207).
    Not so the looks by core hue or exact colour: their lines over Doppler of the type's hue take
    in the flow, and widened to them a red label's boxes blanked more of it (colour over-redaction
    1.29 -> 1.33 % mean, for one more label). ``source`` gives ``image`` again (``Looks.add``).
    Returns the lines queued."""
    queued = []
    for sector, line in colour_lines(image, where) if "colour" in policy.renderings else ():
        if not read_to_ends(line, known) and wanted(line):
            looks.add(frame, image, line, closer_zoom(image, line, policy), wide=True, rendering="colour",
                      render=functools.partial(colour_plane, sector=sector), source=source, widen=True)
            queued.append(line)
    return queued


def hue_looks(image: np.ndarray, frame: int, known: Sequence[Box], looks: Looks, policy: Policy,
              wanted: Callable[[Box], bool] = lambda box: True, where: np.ndarray | None = None,
              looked: Sequence[Box] = ()) -> None:
    """Queue a closer look, reaching along the line, at every (wanted) line of a pure hue's core
    (``hue_lines``; of the pixels in ``where``, when given) that ``known`` leaves unread and the
    lines of one hue already queued (``looked``, ``colour_looks``) leave uncovered, in the
    rendering of that hue (``hue_rendering``: the flow's orange and yellow fade), where the
    policy asks for "colour". Red type through JPEG over red-to-yellow Doppler has no exact
    colour left (``ink_looks``), and its red is smeared over the ground between its strokes into
    the flow beside it, so it forms no line of its hue sector: colour 199 -> 206 of 216
    (benchmarks/recall_sweep.py). Single images, later images and a clip's static layer only: in
    a Doppler clip every frame holds new colour, and the lines of its moving flow's pieces cost a
    30-frame clip made of US1 1.45x its detection for no box."""
    for hue, line in hue_lines(image, where) if "colour" in policy.renderings else ():
        if not read_to_ends(line, known) and wanted(line) and share_covered(line, looked) < LINE_COVERED:
            looks.add(frame, image, line, closer_zoom(image, line, policy), wide=True,
                      rendering="colour", render=functools.partial(hue_rendering, hue=hue))


def ink_looks(image: np.ndarray, frame: int, known: Sequence[Box], looks: Looks, policy: Policy,
              wanted: Callable[[Box], bool] = lambda box: True, looked: Sequence[Box] = ()) -> None:
    """Queue a closer look at every (wanted) line of one exact colour (``ink_lines``) that ``known``
    leaves unread and the lines of one hue already queued (``looked``, ``colour_looks``) leave
    uncovered, in the rendering of how near each pixel is to that colour (``near_rendering``),
    where the policy asks for "colour". Red type over red-yellow Doppler forms no line of its
    own hue, and its hue plane holds the flow too; alone in its colour, DB reads it (the recall
    sweep's "colour" group over US1). Single images and a clip's static layer only: a colour
    Doppler image gets some such looks at its palette's colours (7 on US1, about 35 ms), which
    every frame of a clip would pay."""
    for colour, line in ink_lines(image) if "colour" in policy.renderings else ():
        if not read_to_ends(line, known) and wanted(line) and share_covered(line, looked) < LINE_COVERED:
            looks.add(frame, image, line, closer_zoom(image, line, policy), wide=True, rendering="colour",
                      render=functools.partial(near_rendering, colour=colour))


def level_looks(image: np.ndarray, frame: int, known: Sequence[Box], looks: Looks, policy: Policy,
                wanted: Callable[[Box], bool] = lambda box: True, usual: np.ndarray | None = None,
                source: Callable[[], np.ndarray] | None = None) -> None:
    """Queue a closer look, reaching along the line, at every (wanted) line of one exact grey
    (``level_lines``, beyond the ``usual`` counts of a clip's frames when given) that ``known``
    leaves unread, in the rendering of how near each pixel is to that grey (``level_rendering``),
    where the policy asks for "level": dark grey type over tissue, which no rendering by
    brightness sets apart from the speckle's dark grains (the recall sweep's "dark" labels). A
    line of a small banner's ground is the banner, taller than its type: it is read when its
    columns are (``line_read``), whatever share of it the type's boxes cover; a look at it would
    blank the whole banner. A box over most of its line is widened to it (``Looks.add``'s
    ``widen``: DB there may leave a thin first letter out); ``source`` gives ``image`` again."""
    for level, line in level_lines(image, usual) if "level" in policy.renderings else ():
        if not line_read(line, known) and wanted(line):
            looks.add(frame, image, line, closer_zoom(image, line, policy), wide=True, rendering="level",
                      render=functools.partial(level_rendering, level=level), source=source, widen=True)
