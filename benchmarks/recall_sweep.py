"""Recall sweep: labels of known contrast, size and font drawn on a real ultrasound frame.

    .venv/bin/python benchmarks/recall_sweep.py [--set key=value ...] [--json benchmarks/results/recall-sweep.json]

Where does detection stop finding text? Every image is pydicom-data's US1 frame (640x480 RGB,
real tissue, real header text) with three fake-PHI labels of about 8, 12 and 18 px cap height,
drawn anti-aliased in one font (Hershey simplex and duplex, a TrueType sans) either

* on banners of grey ``ground`` with ink ``ground + delta`` (light on dark and dark on light,
  down to 8 grey levels of contrast), or
* over tissue (white, white with a black rim, yellow, mid grey, dark), and so in large type
  ("large": 24 and 36 px cap height, two short labels an image),
* running up or down the image ("vertical": turned a quarter either way, white on a black
  banner, white or mid grey over tissue),
* over the same frame with its gain turned up ("bright": grey x 3 + 40, so the tissue is bright
  speckle), in dark grey or black: dark type on light texture,
* over tissue and colour Doppler in pure colours ("colour": blue, red, green, magenta, dark blue,
  dark red, whose luminance may be that of the tissue under them), there and over color3d's sector,

each once as drawn and once through JPEG q85, as a video grabber or an old archive leaves it; and
over the sector of pydicom-data's cardiac clip color3d ("moving"), each case on another of its
frames, as single-frame files of one layout with the clip's ultrasound region: in a series, such
files differ from the first all over the region; and over that sector in the clip itself
("clip"), each label set shown in 1 or 5 consecutive frames of 120-frame RGB clips; and burned
into every frame of 12-frame stretches of that clip ("static": the banner labels; "colour-clip":
the colour labels), which a clip's static layer shows. Besides ultrasound, scanned forms ("page":
600x800 grainy paper, print of 5, 7 or 10 px cap height in black or faded ink in the cells of a
ruled table and below it, a signature in script; turned 0, 1.5 or 4 degrees, through JPEG q50 or
not), as Secondary Capture files. Every image
or clip goes through ``scrub_dataset`` like any file; a label counts as removed when the redaction
boxes cover at least 98 % of its glyph pixels (alpha >= 0.5, known exactly). Over-redaction is the
share of the image's pixels changed outside the labels and the frame's own annotated text, both
grown by 8 px (counted apart for the groups on color3d, where its icons weigh); a clip's label
counts as removed when it is removed in every frame that shows it.
Layout reuse is off unless ``--set reuse_layouts=True`` (then every image after the first is
checked against the first, as files of one series are).
"""
from __future__ import annotations

import argparse
import ast
import copy
import itertools
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.data import get_testdata_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine, save, versions  # noqa: E402

from scrubber.detect.ocr import default_threads  # noqa: E402
from scrubber.detect.registry import detector_for  # noqa: E402
from scrubber.pipeline import scrub_dataset  # noqa: E402
from scrubber.policy import Policy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HEIGHTS = (8, 12, 18)  # cap heights (px) of the three labels in an image
FONTS = ("hershey-simplex", "hershey-duplex", "truetype")
GROUNDS = (0, 40, 100, 170, 235)
DELTAS = (-60, -25, -12, -8, 8, 12, 25, 60)
TISSUE_INKS = {"white": (255, 255, 255), "white-rimmed": (255, 255, 255), "yellow": (255, 255, 0),
               "grey": (160, 160, 160), "dark": (25, 25, 25)}
BRIGHT_INKS = {"dark": (25, 25, 25), "black": (0, 0, 0)}
COLOUR_INKS = {"blue": (0, 0, 255), "red": (255, 0, 0), "green": (0, 255, 0), "magenta": (255, 0, 255),
               "dark blue": (0, 0, 160), "dark red": (160, 0, 0)}
BRIGHT_GAIN, BRIGHT_LIFT = 3.0, 40  # "bright": the frame's levels times this, plus this (clipped)
JPEG = (None, 85)
COVERED = 0.98  # share of a label's glyph pixels the redaction must cover
GROW = 8  # pixels around text not counted as over-redaction
PAD = 5  # banner margin around a label
BANNER_SLOTS = ((372, 392), (20, 392), (20, 342))  # top-left corners, in US1's black surround
TISSUE_SLOTS = ((100, 170), (330, 228), (40, 292))  # over the image panes
MOVING_SLOTS = ((230, 150), (260, 240), (170, 320))  # over the heart of color3d's sector
LARGE_SLOTS = ((60, 120), (300, 230))  # "large": over the image panes (the second crosses a pane's frame)
LARGE_HEIGHTS = (24, 36)  # ... cap heights of its two labels ...
LARGE_TEXTS = ("DOE JANE", "ID 4455", "SMITH J", "MRN 778")  # ... short enough to fit at 36 px
VERTICAL_SLOTS = ((150, 108), (330, 108), (480, 108))  # "vertical": top ends of labels running down the panes
VERTICAL_TURNS = {"up": 1, "down": -1}  # ... read from the bottom up or from the top down (np.rot90's k)
VERTICAL_INKS = ("banner", "white", "grey")  # ... white on a black banner, or over tissue
SMALL_HEIGHTS = (5, 6, 7)  # "small": cap heights (px) of small type ...
SMALL_DELTAS = (-60, -25, 25, 60)  # ... on the banners, in ink this far off their grey ...
SMALL_INKS = ("white", "white-rimmed", "yellow", "grey")  # ... or over tissue in these styles
CORNER_SLOTS = ((4, 70), (4, 110), (4, 150))  # in the black top-left corner of color3d's calibrated region
FAINT_BANNERS = tuple((ground, delta) for ground in (0, 40) for delta in (8, 12, 25))  # "faint-moment" labels
MOVING_STEP = 4  # "moving" cases take every 4th frame of color3d (each a different image)
CLIP_SPAN = 12  # "clip" cases: each label set has 12 frames of color3d's 120 to itself ...
CLIP_START = 4  # ... and is shown from the 5th of them ...
CLIP_RUNS = (1, 5)  # ... in this many frames (text shown for a moment)
HERSHEY = {"hershey-simplex": cv2.FONT_HERSHEY_SIMPLEX, "hershey-duplex": cv2.FONT_HERSHEY_DUPLEX,
           "hershey-script": cv2.FONT_HERSHEY_SCRIPT_SIMPLEX}  # the script face draws "page" signatures
PAGE_SHAPE = (800, 600)  # "page": a scanned form (rows, columns) ...
PAGE_SIZES = (5, 7, 10)  # ... its print's cap heights (px): a low-resolution scan's fine print to body text ...
PAGE_INKS = {"black": 20, "faded": 150}  # ... in black or faded grey ink ...
PAGE_SKEWS = (0, 1.5, 4)  # ... the page turned this many degrees in the scanner ...
PAGE_JPEG = (None, 50)  # ... kept as scanned or through a scanner's JPEG
PAPER, GRAIN, RULE_INK = 232, 3.0, 60  # the paper's grey, its grain (standard deviation), the table's rules
PEN = (40, 50, 140)  # the signature's blue-black ink
TABLE_LEFT, TABLE_TOP, TABLE_RIGHT, TABLE_ROW, TABLE_SPLIT = 30, 150, 570, 40, 250  # six rows, two columns
BODY = (40, 440)  # the first of four lines of running text below the table ...
BODY_WIDTH, BODY_PITCH = 520, 2  # ... wrapped to this width (px), each line this many cap heights below the last
REPORT = ("Patient John Smith, born 03/11/1960, MRN 4455667, was seen at Springfield General on 05/12/2026 at "
          "the request of Dr A Who, 12 High St Springfield, tel 555-0142, NHS 943 476 5919. Next of kin Jane "
          "Smith, 221B Baker Street, London NW1 6XE. Reported by Dr B Jones, consultant radiologist, St Elsewhere.")
SIGNATURES = ("Jane Doe", "J. Smith")
PAGE_TEXTS = ("NHS 943 476 5919", "TEL 555-0142", "12 HIGH ST SPRINGFIELD", "REF DR A WHO")
TEXTS = ("DOE JANE 1960", "ID 0012345678", "03/12/2026 14:22", "SMITH^JOHN", "ACC 99887766",
         "ST ELSEWHERE", "DOB 1971-04-09", "MRN 4455667")


TABLES = {  # title: (row, column, group)
    "banner: |delta| by ground": ("ground", "contrast", "banner"),
    "banner: delta by height": ("delta", "height", "banner"),
    "banner: font by height": ("font", "height", "banner"),
    "banner: delta by JPEG": ("delta", "jpeg", "banner"),
    "tissue: style by height": ("style", "height", "tissue"),
    "tissue: style by JPEG": ("style", "jpeg", "tissue"),
    "large: style by height": ("style", "height", "large"),
    "vertical: turn by height": ("turn", "height", "vertical"),
    "vertical: style by height": ("style", "height", "vertical"),
    "small: ground or style by height": ("where", "height", "small"),
    "small: font by JPEG": ("font", "jpeg", "small"),
    "bright: style by height": ("style", "height", "bright"),
    "colour: colour by image": ("colour", "over", "colour"),
    "colour: colour by height": ("colour", "height", "colour"),
    "moving: style by height": ("style", "height", "moving"),
    "clip: style by height": ("style", "height", "clip"),
    "clip: frames shown by height": ("frames", "height", "clip"),
    "static: delta by height": ("delta", "height", "static"),
    "static: |delta| by ground": ("ground", "contrast", "static"),
    "colour-clip: colour by height": ("colour", "height", "colour-clip"),
    "colour-moment: colour by height": ("colour", "height", "colour-moment"),
    "colour-moment: frames shown by height": ("frames", "height", "colour-moment"),
    "faint-moment: delta by height": ("delta", "height", "faint-moment"),
    "faint-moment: ground by height": ("ground", "height", "faint-moment"),
    "burned: style by height": ("style", "height", "burned"),
    "page: size by ink": ("size", "ink", "page"),
    "page: skew by JPEG": ("skew", "jpeg", "page"),
    "page: font by size": ("font", "size", "page"),
}
GROUPS = ("banner", "tissue", "large", "vertical", "small", "bright", "colour", "moving", "clip", "static",
          "colour-clip", "colour-moment", "faint-moment", "burned", "page")
# groups on color3d, whose icons are not annotated as text
ON_COLOR3D = ("moving", "clip", "static", "colour-clip", "colour-moment", "faint-moment", "burned")
APART = (*ON_COLOR3D, "bright", "colour", "large", "vertical", "small", "page")  # groups whose over-redaction is
# reported on its own ("colour": half its images are color3d's; "large", "vertical", "small": measured after the others)
# groups whose cases are stretches of CLIP_SPAN frames of a clip
CLIPS = ("clip", "static", "colour-clip", "colour-moment", "faint-moment", "burned")


@dataclass(frozen=True)
class Label:
    text: str
    height: int
    alpha: np.ndarray  # float 0..1, the label's own shape


def _alpha(text: str, font: str, scale: float) -> np.ndarray:
    """Anti-aliased glyph coverage of ``text`` at ``scale``, cropped to its ink."""
    if font == "truetype":
        face = ImageFont.load_default(size=max(1, round(scale)))
        left, top, right, bottom = face.getbbox(text)
        canvas = Image.new("L", (right + 4, bottom + 4))
        ImageDraw.Draw(canvas).text((2, 2), text, fill=255, font=face)
        alpha = np.asarray(canvas, np.float32) / 255
    else:
        face = HERSHEY[font]
        (width, height), base = cv2.getTextSize(text, face, scale, 1)
        canvas = np.zeros((height + base + 8, width + 8), np.uint8)
        cv2.putText(canvas, text, (4, height + 4), face, scale, 255, 1, cv2.LINE_AA)
        alpha = canvas.astype(np.float32) / 255
    ys, xs = np.nonzero(alpha > 0.02)
    return alpha[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _cap_height(font: str, scale: float) -> int:
    return _alpha("H", font, scale).shape[0]


def label(text: str, font: str, height: int) -> Label:
    """``text`` in ``font`` scaled so that its capitals are about ``height`` px high."""
    unit = 40.0 if font == "truetype" else 1.0
    scale = unit * height / _cap_height(font, unit)
    return Label(text, height, _alpha(text, font, scale))


def _composite(image: np.ndarray, alpha: np.ndarray, x: int, y: int, ink: tuple[int, int, int]) -> None:
    h, w = alpha.shape
    region = image[y:y + h, x:x + w].astype(np.float32)
    a = alpha[..., None]
    image[y:y + h, x:x + w] = np.rint(region * (1 - a) + np.asarray(ink, np.float32) * a).astype(np.uint8)


def _ink_over(image: np.ndarray, lab: Label, x: int, y: int, style: str) -> None:
    """A label drawn over the image in one of the TISSUE_INKS styles."""
    if style == "white-rimmed":
        rim = cv2.dilate((lab.alpha * 255).astype(np.uint8), np.ones((5, 5), np.uint8)) / 255
        _composite(image, rim.astype(np.float32), x, y, (0, 0, 0))
    _composite(image, lab.alpha, x, y, TISSUE_INKS[style])


@dataclass
class Case:
    group: str  # one of GROUPS
    condition: dict
    image: np.ndarray  # one image, or the frames of a clip that belong to the case
    glyphs: list[tuple[int, int, np.ndarray]]  # (x, y, mask) per label
    heights: list[int]
    shown: range = range(1)  # frames of ``image`` in which the labels are drawn


def _place(frame: np.ndarray, labels: list[Label], slots, paint) -> list[tuple[int, int, np.ndarray]]:
    placed = []
    for lab, (x, y) in zip(labels, slots):
        x, y = x + PAD, y + PAD
        paint(frame, lab, x, y)
        placed.append((x, y, lab.alpha >= 0.5))
    return placed


def _label_set(texts: Iterator[str], number: int, font: str, sizes: tuple[int, ...] = HEIGHTS) -> list[Label]:
    """Three labels in ``font``, one of each of ``sizes``, turned by ``number`` so that each size
    visits each slot."""
    heights = sizes[number % 3:] + sizes[:number % 3]
    return [label(next(texts), font, h) for h in heights]


def banner_conditions() -> Iterator[tuple[int, int, str, int | None]]:
    """(ground, delta, font, JPEG quality) of every banner label set whose ink is a grey level."""
    return ((g, d, f, q) for g, d, f, q in itertools.product(GROUNDS, DELTAS, FONTS, JPEG) if 0 <= g + d <= 255)


def _banner(ground: int, delta: int):
    """Paints a label on a banner of grey ``ground`` in ink ``ground + delta``."""
    def paint(image, lab, x, y):
        h, w = lab.alpha.shape
        cv2.rectangle(image, (x - PAD, y - PAD), (x + w + PAD, y + h + PAD), (ground,) * 3, -1)
        _composite(image, lab.alpha, x, y, (ground + delta,) * 3)
    return paint


def brightened(frame: np.ndarray) -> np.ndarray:
    """``frame`` with its gain turned up as the "bright" group draws on it: tissue becomes bright speckle."""
    return np.clip(frame.astype(np.float32) * BRIGHT_GAIN + BRIGHT_LIFT, 0, 255).astype(np.uint8)


def cases(base: np.ndarray) -> Iterator[Case]:
    """Every condition of the sweep, on a copy of ``base``."""
    texts = itertools.cycle(TEXTS)
    numbers = itertools.count(1)

    for ground, delta, font, quality in banner_conditions():
        frame, labs = base.copy(), _label_set(texts, next(numbers), font)
        glyphs = _place(frame, labs, BANNER_SLOTS, _banner(ground, delta))
        yield Case("banner", {"ground": ground, "delta": delta, "font": font, "jpeg": quality},
                   _jpeg(frame, quality), glyphs, [lab.height for lab in labs])
    for style, font, quality in itertools.product(TISSUE_INKS, FONTS, JPEG):
        frame, labs = base.copy(), _label_set(texts, next(numbers), font)
        glyphs = _place(frame, labs, TISSUE_SLOTS, _tissue_ink(style))
        yield Case("tissue", {"style": style, "font": font, "jpeg": quality},
                   _jpeg(frame, quality), glyphs, [lab.height for lab in labs])
    bright = brightened(base)
    for style, font, quality in itertools.product(BRIGHT_INKS, FONTS, JPEG):
        frame, labs = bright.copy(), _label_set(texts, next(numbers), font)
        glyphs = _place(frame, labs, TISSUE_SLOTS,
                        lambda image, lab, x, y: _composite(image, lab.alpha, x, y, BRIGHT_INKS[style]))
        yield Case("bright", {"style": style, "font": font, "jpeg": quality},
                   _jpeg(frame, quality), glyphs, [lab.height for lab in labs])
    for colour, font, quality in itertools.product(COLOUR_INKS, FONTS, JPEG):
        frame, labs = base.copy(), _label_set(texts, next(numbers), font)
        glyphs = _place(frame, labs, TISSUE_SLOTS, _coloured(colour))
        yield Case("colour", {"colour": colour, "over": "US1", "font": font, "jpeg": quality},
                   _jpeg(frame, quality), glyphs, [lab.height for lab in labs])
    large = itertools.cycle(LARGE_TEXTS)
    for style, font, quality in itertools.product(TISSUE_INKS, FONTS, JPEG):
        frame, labs = base.copy(), [label(next(large), font, height) for height in LARGE_HEIGHTS]
        glyphs = _place(frame, labs, LARGE_SLOTS, _tissue_ink(style))
        yield Case("large", {"style": style, "font": font, "jpeg": quality},
                   _jpeg(frame, quality), glyphs, [lab.height for lab in labs])
    upright = itertools.cycle(TEXTS)
    for number, (style, turn, font, quality) in enumerate(itertools.product(VERTICAL_INKS, VERTICAL_TURNS, FONTS,
                                                                            JPEG)):
        frame = base.copy()
        labs = [_turned(lab, VERTICAL_TURNS[turn]) for lab in _label_set(upright, number, font)]
        paint = _banner(0, 255) if style == "banner" else _tissue_ink(style)
        glyphs = _place(frame, labs, VERTICAL_SLOTS, paint)
        yield Case("vertical", {"style": style, "turn": turn, "font": font, "jpeg": quality},
                   _jpeg(frame, quality), glyphs, [lab.height for lab in labs])
    yield from small_cases(base)


def small_cases(base: np.ndarray) -> Iterator[Case]:
    """Type of 5-7 px cap height ("small"): on the banners, in ink at least 25 grey levels off
    their grey, and over tissue in the light styles."""
    texts = itertools.cycle(TEXTS)
    numbers = itertools.count()
    banners = ((g, d, f, q) for g, d, f, q in banner_conditions() if d in SMALL_DELTAS)
    for ground, delta, font, quality in banners:
        frame, labs = base.copy(), _label_set(texts, next(numbers), font, SMALL_HEIGHTS)
        glyphs = _place(frame, labs, BANNER_SLOTS, _banner(ground, delta))
        yield Case("small", {"over": "banner", "ground": ground, "delta": delta, "font": font, "jpeg": quality},
                   _jpeg(frame, quality), glyphs, [lab.height for lab in labs])
    for style, font, quality in itertools.product(SMALL_INKS, FONTS, JPEG):
        frame, labs = base.copy(), _label_set(texts, next(numbers), font, SMALL_HEIGHTS)
        glyphs = _place(frame, labs, TISSUE_SLOTS, _tissue_ink(style))
        yield Case("small", {"over": "tissue", "style": style, "font": font, "jpeg": quality},
                   _jpeg(frame, quality), glyphs, [lab.height for lab in labs])


def _turned(lab: Label, turns: int) -> Label:
    """``lab`` turned ``turns`` quarters counter-clockwise: a label running up or down the image."""
    return Label(lab.text, lab.height, np.ascontiguousarray(np.rot90(lab.alpha, turns)))


def _tissue_ink(style: str):
    """Paints a label in one of the TISSUE_INKS styles (``_ink_over``)."""
    return lambda image, lab, x, y: _ink_over(image, lab, x, y, style)


def _coloured(colour: str):
    """Paints a label in one of the COLOUR_INKS."""
    return lambda image, lab, x, y: _composite(image, lab.alpha, x, y, COLOUR_INKS[colour])


def moving_cases(frames: np.ndarray) -> Iterator[Case]:
    """Labels over the sector of a cardiac clip, each case on another of its frames: a series of
    single-frame files of one layout whose image changes from file to file, with ultrasound
    regions in the header (``moving_template``)."""
    texts = itertools.cycle(reversed(TEXTS))
    for number, (style, font, quality) in enumerate(itertools.product(TISSUE_INKS, FONTS, JPEG)):
        labs = _label_set(texts, number, font)
        frame = frames[(number * MOVING_STEP) % len(frames)].copy()
        glyphs = _place(frame, labs, MOVING_SLOTS, _tissue_ink(style))
        yield Case("moving", {"style": style, "font": font, "jpeg": quality},
                   _jpeg(frame, quality), glyphs, [lab.height for lab in labs])


def sector_colour_cases(frames: np.ndarray) -> Iterator[Case]:
    """The "colour" labels over the sector of the cardiac clip (grey echo), each case on another
    of its frames, as the "moving" ones are."""
    texts = itertools.cycle(TEXTS[2:] + TEXTS[:2])
    for number, (colour, font, quality) in enumerate(itertools.product(COLOUR_INKS, FONTS, JPEG)):
        labs = _label_set(texts, number, font)
        frame = frames[(number * MOVING_STEP + 2) % len(frames)].copy()
        glyphs = _place(frame, labs, MOVING_SLOTS, _coloured(colour))
        yield Case("colour", {"colour": colour, "over": "color3d", "font": font, "jpeg": quality},
                   _jpeg(frame, quality), glyphs, [lab.height for lab in labs])


def static_cases(frames: np.ndarray) -> Iterator[Case]:
    """The banner labels drawn in every frame of a stretch of CLIP_SPAN frames of the cardiac
    clip, over its sector: burned-in text of a clip, which its static layer shows (each case a
    clip of its own, starting at another frame)."""
    texts = itertools.cycle(TEXTS[5:] + TEXTS[:5])
    for number, (ground, delta, font, quality) in enumerate(banner_conditions()):
        yield _burned_in(frames, number, _label_set(texts, number, font), _banner(ground, delta), quality,
                         "static", {"ground": ground, "delta": delta, "font": font, "jpeg": quality})


def colour_clip_cases(frames: np.ndarray) -> Iterator[Case]:
    """The "colour" labels drawn in every frame of a stretch of CLIP_SPAN frames of the cardiac
    clip, over its sector ("colour-clip"): coloured type burned into a clip, which its static
    layer must show in colour."""
    texts = itertools.cycle(TEXTS[4:] + TEXTS[:4])
    for number, (colour, font, quality) in enumerate(itertools.product(COLOUR_INKS, FONTS, JPEG)):
        yield _burned_in(frames, number, _label_set(texts, number, font), _coloured(colour), quality,
                         "colour-clip", {"colour": colour, "font": font, "jpeg": quality})


def burned_cases(frames: np.ndarray) -> Iterator[Case]:
    """The tissue labels drawn in every frame of a stretch of CLIP_SPAN frames of the cardiac clip,
    over its sector ("burned"): annotations drawn on a clip's image for its whole length, which
    its static layer shows over the blurred sector."""
    texts = itertools.cycle(TEXTS[6:] + TEXTS[:6])
    for number, (style, font, quality) in enumerate(itertools.product(TISSUE_INKS, FONTS, JPEG)):
        yield _burned_in(frames, number, _label_set(texts, number, font), _tissue_ink(style), quality,
                         "burned", {"style": style, "font": font, "jpeg": quality})


def _burned_in(frames: np.ndarray, number: int, labs: list[Label], paint, quality: int | None, group: str,
               condition: dict) -> Case:
    """A case of ``group``: ``labs`` painted into every frame of the CLIP_SPAN frames of the clip
    from the ``number``-th start on (each case a clip of its own), each frame through JPEG."""
    start = (number * MOVING_STEP) % (len(frames) - CLIP_SPAN)
    clip = frames[start:start + CLIP_SPAN].copy()
    for frame in clip:
        glyphs = _place(frame, labs, MOVING_SLOTS, paint)
    return Case(group, condition, np.stack([_jpeg(frame, quality) for frame in clip]), glyphs,
                [lab.height for lab in labs], range(CLIP_SPAN))


def clip_cases(frames: np.ndarray) -> Iterator[tuple[np.ndarray, list[Case]]]:
    """The tissue labels over the sector of the cardiac clip, each label set shown in one or five
    (CLIP_RUNS) of its own CLIP_SPAN frames: text that a clip shows for a moment, at one place in
    at most a quarter of the frames (not part of its static layer). Yields each clip (of one JPEG
    quality) and its cases, each holding its span of frames."""
    inks = [({"style": style}, _tissue_ink(style)) for style in TISSUE_INKS]
    return _shown_for_a_moment(frames, "clip", inks, MOVING_SLOTS, TEXTS[3:] + TEXTS[:3])


def colour_moment_cases(frames: np.ndarray) -> Iterator[tuple[np.ndarray, list[Case]]]:
    """The "colour" labels shown for a moment over the sector of the cardiac clip, as the "clip"
    ones are ("colour-moment"): blue or dark red type over tissue forms no grey strokes of its
    own in the frames that show it."""
    inks = [({"colour": colour}, _coloured(colour)) for colour in COLOUR_INKS]
    return _shown_for_a_moment(frames, "colour-moment", inks, MOVING_SLOTS, TEXTS[1:] + TEXTS[:1])


def faint_moment_cases(frames: np.ndarray) -> Iterator[tuple[np.ndarray, list[Case]]]:
    """Faint banner labels (FAINT_BANNERS) shown for a moment, as the "clip" ones are, in the black
    corner of the cardiac clip's calibrated region, left of its sector ("faint-moment"): they
    differ from the median by less than a clock's digits do."""
    banners = [({"ground": ground, "delta": delta}, _banner(ground, delta)) for ground, delta in FAINT_BANNERS]
    return _shown_for_a_moment(frames, "faint-moment", banners, CORNER_SLOTS, TEXTS[2:] + TEXTS[:2])


def _shown_for_a_moment(frames: np.ndarray, group: str, inks: list[tuple[dict, Callable]], slots,
                        texts: tuple[str, ...]) -> Iterator[tuple[np.ndarray, list[Case]]]:
    """Cases of ``group``: label sets painted at ``slots`` in each of ``inks`` (its condition, the
    function that paints a label), each shown in one or five (CLIP_RUNS) of its own CLIP_SPAN
    frames of the clip; a clip per JPEG quality and as many sets as it has spans, each clip
    yielded with its cases."""
    cycle = itertools.cycle(texts)
    per_clip = len(frames) // CLIP_SPAN
    number = itertools.count()
    for quality in JPEG:
        conditions = list(itertools.product(inks, FONTS, CLIP_RUNS))
        for first in range(0, len(conditions), per_clip):
            clip, out = frames.copy(), []
            for slot, ((condition, paint), font, run) in enumerate(conditions[first:first + per_clip]):
                labs, shown = _label_set(cycle, next(number), font), range(CLIP_START, CLIP_START + run)
                for index in shown:
                    glyphs = _place(clip[slot * CLIP_SPAN + index], labs, slots, paint)
                out.append(Case(group, {**condition, "font": font, "jpeg": quality, "frames": run}, np.empty(0),
                                glyphs, [lab.height for lab in labs], shown))
            clip = np.stack([_jpeg(frame, quality) for frame in clip])
            for slot, case in enumerate(out):
                case.image = clip[slot * CLIP_SPAN:(slot + 1) * CLIP_SPAN]
            yield clip, out


def page_cases() -> Iterator[Case]:
    """Scanned forms ("page"): on grainy paper, six labels in the cells of a ruled table and four
    lines of a report's running text below it, of one font, cap height and ink, and a signature in
    script twice their height in blue-black pen; the page turned in the scanner or not, through
    JPEG or not. A line of print is one label: a report's lines are what a scanned page holds most."""
    texts = itertools.cycle(TEXTS + PAGE_TEXTS)
    conditions = itertools.product(FONTS, PAGE_SIZES, PAGE_INKS, PAGE_SKEWS, PAGE_JPEG)
    for number, (font, size, ink, skew, quality) in enumerate(conditions):
        labs = [label(next(texts), font, size) for _ in range(6)] + running(font, size, 7 * number)
        signature = label(SIGNATURES[number % 2], "hershey-script", 2 * size)
        image, glyphs = _page(np.random.default_rng(number), labs, signature, PAGE_INKS[ink], skew)
        yield Case("page", {"font": font, "size": size, "ink": ink, "skew": skew, "jpeg": quality},
                   _jpeg(image, quality), glyphs, [*(lab.height for lab in labs), signature.height])


def running(font: str, size: int, start: int, count: int = 4, width: int = BODY_WIDTH) -> list[Label]:
    """``count`` lines of REPORT from its ``start``-th word on, each as many words as fit ``width``."""
    words = itertools.islice(itertools.cycle(REPORT.split()), start % len(REPORT.split()), None)
    lines, line = [], label(next(words), font, size)
    for word in words:
        longer = label(f"{line.text} {word}", font, size)
        if longer.alpha.shape[1] <= width:
            line = longer
            continue
        lines.append(line)
        if len(lines) == count:
            return lines
        line = label(word, font, size)
    raise AssertionError("REPORT cycles for ever")


def _page(rng: np.random.Generator, labs: list[Label], signature: Label, ink: int, skew: float,
          pitch: float = BODY_PITCH) -> tuple[np.ndarray, list[tuple[int, int, np.ndarray]]]:
    """A form with ``labs`` (six in the table's cells, four below it, ``pitch`` cap heights apart)
    and ``signature``, turned ``skew`` degrees, and each label's (x, y, glyph mask) where it ends up."""
    rows, cols = PAGE_SHAPE
    paper = PAPER + rng.normal(0, GRAIN, PAGE_SHAPE) + np.linspace(-6, 6, cols)[None, :]
    image = np.repeat(np.clip(paper, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    bottom = TABLE_TOP + 6 * TABLE_ROW
    for y in range(TABLE_TOP, bottom + 1, TABLE_ROW):
        cv2.line(image, (TABLE_LEFT, y), (TABLE_RIGHT, y), (RULE_INK,) * 3, 1)
    for x in (TABLE_LEFT, TABLE_SPLIT, TABLE_RIGHT):
        cv2.line(image, (x, TABLE_TOP), (x, bottom), (RULE_INK,) * 3, 1)
    slots = [(TABLE_SPLIT + 10, TABLE_TOP + row * TABLE_ROW + (TABLE_ROW - lab.alpha.shape[0]) // 2)
             for row, lab in enumerate(labs[:6])]
    slots += [(BODY[0], round(BODY[1] + line * pitch * labs[0].height)) for line in range(4)]
    slots.append((BODY[0] + 20, BODY[1] + 200))
    colours = [(ink,) * 3] * len(labs) + [PEN]
    return turned_page(image, [(lab, x, y, colour) for lab, (x, y), colour in zip([*labs, signature], slots, colours)],
                       skew)


def turned_page(image: np.ndarray, placed: list[tuple[Label, int, int, tuple[int, int, int]]],
                skew: float) -> tuple[np.ndarray, list[tuple[int, int, np.ndarray]]]:
    """``image`` (a page's paper and rules) turned ``skew`` degrees in the scanner, with each of
    ``placed`` (label, x, y, ink) inked where it ends up, and each label's (x, y, glyph mask) there."""
    rows, cols = image.shape[:2]
    turn = cv2.getRotationMatrix2D((cols / 2, rows / 2), skew, 1.0)
    image = cv2.warpAffine(image, turn, (cols, rows), flags=cv2.INTER_LINEAR, borderValue=(PAPER,) * 3)
    glyphs = []
    for lab, x, y, colour in placed:
        alpha = np.zeros((rows, cols), np.float32)
        h, w = lab.alpha.shape
        alpha[y:y + h, x:x + w] = lab.alpha
        alpha = cv2.warpAffine(alpha, turn, (cols, rows), flags=cv2.INTER_LINEAR)
        ys, xs = np.nonzero(alpha > 0.02)
        top, left = int(ys.min()), int(xs.min())
        shape = alpha[top:ys.max() + 1, left:xs.max() + 1]
        _composite(image, shape, left, top, colour)
        glyphs.append((left, top, shape >= 0.5))
    return image, glyphs


def page_template() -> pydicom.Dataset:
    """Our sample scanned form (Secondary Capture) as an RGB file of PAGE_SHAPE in Explicit VR
    Little Endian, as a colour scanner writes it; its pixels are set per case."""
    ds = pydicom.dcmread(ROOT / "sample_data" / "dicom" / "sc_form.dcm")
    ds.decompress()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.PlanarConfiguration = "RGB", 3, 0
    ds.Rows, ds.Columns = PAGE_SHAPE
    return ds


def moving_template(source: pydicom.Dataset, frames: int = 1) -> pydicom.Dataset:
    """``source`` (color3d: a JPEG YBR clip with an ultrasound region) as an RGB file of ``frames``
    frames in Explicit VR Little Endian; its pixels are set per case."""
    ds = copy.deepcopy(source)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.NumberOfFrames = frames
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    return ds


def _jpeg(image: np.ndarray, quality: int | None) -> np.ndarray:
    if quality is None:
        return image
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_UNCHANGED)


def _grown(shape: tuple[int, int], boxes) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        mask[max(0, y0 - GROW):y1 + GROW, max(0, x0 - GROW):x1 + GROW] = True
    return mask


def score(case: Case, boxes, after: np.ndarray, own_text) -> dict:
    """Covered share per label (by the redaction ``boxes``, a list per frame; the least over the
    frames that show it), and over-redaction (pixels changed outside the text, as
    ``scrubber.evaluate`` counts them, over all the case's frames)."""
    images = case.image.reshape(-1, *case.image.shape[-3:])
    shape = images.shape[1:3]
    blanked = np.zeros(images.shape[:3], bool)
    for frame, frame_boxes in enumerate(boxes):
        for x0, y0, x1, y1 in frame_boxes:
            blanked[frame, y0:y1, x0:x1] = True
    changed = np.any(np.asarray(after).reshape(images.shape) != images, axis=-1)
    shares, text_boxes = [], list(own_text)
    for x, y, mask in case.glyphs:
        h, w = mask.shape
        shares.append(round(min(float(blanked[f, y:y + h, x:x + w][mask].mean()) for f in case.shown), 4))
        text_boxes.append((x, y, x + w, y + h))
    over = float((changed & ~_grown(shape, text_boxes)).mean())
    return {"covered": shares, "over_redaction": round(over, 5)}


def _order(value) -> tuple:
    """Numbers in their order, then names (None: no JPEG)."""
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def _where(condition: dict) -> str:
    """A "small" label's place: a banner, by the ink's contrast, or its style over tissue."""
    if condition.get("over") == "banner":
        return f"banner, contrast {abs(condition['delta'])}"
    return str(condition.get("style", ""))


def table(rows: list[dict], row_key: str, col_key: str, group: str) -> list[str]:
    """Markdown table: removed / labels per (row, column)."""
    tally: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if r["group"] != group:
            continue
        for height, share in zip(r["heights"], r["covered"]):
            values = {**r["condition"], "height": height, "contrast": abs(r["condition"].get("delta", 0)),
                      "where": _where(r["condition"])}
            cell = tally[values[row_key], values[col_key]]
            cell[0] += share >= COVERED
            cell[1] += 1
    rows_ = sorted({k[0] for k in tally}, key=_order)
    cols = sorted({k[1] for k in tally}, key=_order)
    lines = [f"| {row_key} \\ {col_key} | " + " | ".join(map(str, cols)) + " |",
             "|---" * (len(cols) + 1) + "|"]
    for rk in rows_:
        cells = [f"{tally[rk, c][0]}/{tally[rk, c][1]}" if tally[rk, c][1] else "" for c in cols]
        lines.append(f"| {rk} | " + " | ".join(cells) + " |")
    return lines


def _redaction(rows: list[dict]) -> dict:
    shares = [r["over_redaction"] for r in rows]
    return {"over_redaction_max": max(shares, default=0.0),
            "over_redaction_mean": round(sum(shares) / len(shares), 5) if shares else 0.0}


def summary(rows: list[dict]) -> dict:
    """Labels removed per group; over-redaction of the US1 images (banner and tissue), and of the
    others in their groups (APART: color3d's icons, not annotated as text, weigh there)."""
    totals: dict = {}
    for group in GROUPS:
        mine = [r for r in rows if r["group"] == group]
        totals[group] = {"removed": sum(s >= COVERED for r in mine for s in r["covered"]),
                         "labels": sum(len(r["covered"]) for r in mine)}
    for group in APART:
        totals[group] |= _redaction([r for r in rows if r["group"] == group])
    return totals | _redaction([r for r in rows if r["group"] not in APART])


def _run(cases_: list[Case], pixels: np.ndarray, base: pydicom.Dataset, policy: Policy, detector,
         own_text) -> list[dict]:
    """Scrub ``pixels`` (one image, or a clip whose cases each hold CLIP_SPAN of its frames) as a
    file like ``base``; a row per case, each printed."""
    ds = copy.deepcopy(base)
    ds.PixelData = pixels.tobytes()
    result = scrub_dataset(ds, policy, detector, keep_pixels=True)
    after = np.asarray(result.after).reshape(-1, *pixels.shape[-3:])
    rows = []
    for index, case in enumerate(cases_):
        span = slice(index * CLIP_SPAN, (index + 1) * CLIP_SPAN) if case.group in CLIPS else slice(0, 1)
        row = {"group": case.group, "condition": case.condition, "heights": case.heights,
               **score(case, result.boxes[span], after[span], own_text)}
        rows.append(row)
        missed = [h for h, s in zip(case.heights, row["covered"]) if s < COVERED]
        print(f"{case.group:6s} {case.condition}  missed heights {missed or '-'}  "
              f"over {100 * row['over_redaction']:.2f}%", flush=True)
    return rows


def _annotated(name: str) -> list[tuple[int, int, int, int]]:
    """The annotated text boxes of a real test file (tests/annotations), in every frame."""
    return [tuple(b["box"]) for b in json.loads((ROOT / "tests" / "annotations" / f"{name}.json").read_text())["boxes"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], help="Policy field=python literal")
    parser.add_argument("--json", help="write results here")
    parser.add_argument("--groups", default=",".join(GROUPS), help="comma-separated subset of " + ",".join(GROUPS))
    args = parser.parse_args()
    changes = {"reuse_layouts": False} | {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in args.set)}
    policy = Policy(device="cpu", **changes)
    detector = detector_for(policy, default_threads(1))
    template = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm"))
    clip = pydicom.dcmread(get_testdata_file("color3d_jpeg_baseline.dcm"))
    moving = moving_template(clip)
    own_text = {"US1_UNCR": _annotated("US1_UNCR"), "color3d_jpeg_baseline": _annotated("color3d_jpeg_baseline")}
    rows, started = [], time.perf_counter()
    still = cases(np.ascontiguousarray(template.pixel_array))
    on_sector = itertools.chain(moving_cases(clip.pixel_array), sector_colour_cases(clip.pixel_array))
    every = itertools.chain(((case, template, "US1_UNCR") for case in still),
                            ((case, moving, "color3d_jpeg_baseline") for case in on_sector))
    wanted = set(args.groups.split(","))
    for case, base, name in every:
        if case.group in wanted:
            rows += _run([case], case.image, base, policy, detector, own_text[name])
    burned = itertools.chain(static_cases(clip.pixel_array) if "static" in wanted else (),
                             colour_clip_cases(clip.pixel_array) if "colour-clip" in wanted else (),
                             burned_cases(clip.pixel_array) if "burned" in wanted else ())
    for case in burned:
        rows += _run([case], case.image, moving_template(clip, len(case.image)), policy, detector,
                     own_text["color3d_jpeg_baseline"])
    if "page" in wanted:
        form = page_template()
        for case in page_cases():
            rows += _run([case], case.image, form, policy, detector, [])
    moments = itertools.chain(clip_cases(clip.pixel_array) if "clip" in wanted else (),
                              colour_moment_cases(clip.pixel_array) if "colour-moment" in wanted else (),
                              faint_moment_cases(clip.pixel_array) if "faint-moment" in wanted else ())
    for whole, clip_rows in moments:
        rows += _run(clip_rows, whole, moving_template(clip, len(whole)), policy, detector,
                     own_text["color3d_jpeg_baseline"])
    totals = summary(rows) | {"seconds": round(time.perf_counter() - started, 1)}
    tables = {title: table(rows, *keys) for title, keys in TABLES.items()}
    print(json.dumps(totals))
    for title, lines in tables.items():
        print(f"\n{title}\n" + "\n".join(lines))
    save(args.json, {"benchmark": "recall-sweep", "date": date.today().isoformat(),
                     "command": " ".join(["benchmarks/recall_sweep.py", *sys.argv[1:]]),
                     "machine": machine(), "versions": versions("scrubber", "easyocr", "torch", "onnxruntime"),
                     "policy_changes": {k: repr(v) for k, v in changes.items()}, "totals": totals,
                     "tables": tables, "images": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
