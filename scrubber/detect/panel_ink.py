"""Boxes over a flat panel (a banner, a label plate: ``proposer.panels``) reach to the ends of the
ink on it. DB reads small type on a banner through JPEG a letter or a word short (5 px "ST
ELSEWHERE" 60 grey levels off its banner: a box over its first 28 of 39 columns), and a box that
stops short leaves a name's last letters standing. On a flat banner what stands out from its
ground beside the box is more of the same type, so the box is carried along it."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .boxes import Box, Detection, overlaps
from .proposer import panels

INK_SHARE = 0.5  # a column of a panel holds ink where a pixel lies this share of the box's contrast off the ground
INK_TOP = 90  # percentile of the columns under a box whose contrast is the ink's
INK_LEAST = 4  # ... and at least this many grey levels off it (JPEG's grain on a flat banner: 1-2 levels)
PANEL_LINE = 2  # a box at most this many times as high as its panel, its middle row on it, lies on the panel
INK_GAP = 0.2  # ink columns this share of the box's height apart (at least LEAST_GAP) are one run: letters blurred
LEAST_GAP = 3  # together, or 2 columns apart (color3d's toolbar), not an icon 6-7 columns before a word
MARGIN = 1  # columns at a panel's sides: ink that reaches them runs past the panel


def reach_panel_ink(image: np.ndarray, found: Sequence[Detection]) -> list[Detection]:
    """``found`` (detections on ``image``, RGB) with each box that lies on a flat panel reaching
    along it to the ends of its ink, where that ink is one label (``_reached``)."""
    boards = panels(image) if found else []
    if not boards:
        return list(found)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    out = []
    for detection in found:
        box = detection.box
        for panel in boards:
            if _on(box, panel):
                box = _reached(grey, box, panel)
        out.append(detection if box == detection.box else Detection(box, detection.detector, detection.rendering))
    return out


def _on(box: Box, panel: Box) -> bool:
    """``box`` is a line on ``panel``: it overlaps it, its middle row lies on it and it is at most
    PANEL_LINE times as high."""
    middle = (box[1] + box[3]) // 2
    return (overlaps(box, panel) and panel[1] <= middle < panel[3]
            and box[3] - box[1] <= PANEL_LINE * (panel[3] - panel[1]))


def _reached(grey: np.ndarray, box: Box, panel: Box) -> Box:
    """``box`` widened over the ink of ``panel`` (the columns with a pixel INK_SHARE of the contrast
    of the box's inkiest columns, INK_TOP, off the panel's ground, and at least INK_LEAST) where
    that ink is one label: a single run, each ink column within INK_GAP of the box's height of the
    last (the gap between two letters), that ends on flat ground short of the panel's sides.
    A toolbar's panel holds icons, words and dividers apart (color3d's), or blurred into one run
    to its sides (the same toolbar at half size, examples_ybr_color): the box stays as it was."""
    x0, y0, x1, y1 = panel
    crop = grey[y0:y1, x0:x1].astype(np.int16)
    off = np.abs(crop - int(np.median(crop))).max(axis=0)
    left, right = max(box[0], x0) - x0, min(box[2], x1) - x0
    if right <= left:
        return box
    ink = np.flatnonzero(off >= max(INK_LEAST, INK_SHARE * float(np.percentile(off[left:right], INK_TOP))))
    gap = max(LEAST_GAP, round(INK_GAP * (box[3] - box[1])))
    if not ink.size or (np.diff(ink) > gap).any() or ink[0] <= MARGIN or ink[-1] >= off.size - 1 - MARGIN:
        return box
    return min(box[0], x0 + int(ink[0])), box[1], max(box[2], x0 + int(ink[-1]) + 1), box[3]
