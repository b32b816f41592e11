"""One image: the extra renderings are looked at where they show text that "full" left uncovered.

The real detector runs; calls are counted by image shape, so a whole-image pass is told from a
crop. Recall is the point: text that only an extra rendering shows must still be found, now from
a crop of that rendering.
"""
from __future__ import annotations

import cv2
import numpy as np

from scrubber.detect.find import find_text
from scrubber.detect.proposer import text_lines
from scrubber.policy import Policy

from .util import Counted


def _counting(detector):
    shapes: list[tuple[int, ...]] = []
    return Counted(detector, lambda images: shapes.extend(image.shape for image in images)), shapes


def _window_only() -> tuple[np.ndarray, np.ndarray]:
    """A 16-bit-like image: in "full" (the whole stored range) a name sits at grey 1 on black, next
    to a bright disc; the header's window shows it at grey 150."""
    window = np.zeros((480, 640, 3), np.uint8)
    cv2.putText(window, "JOHN SMITH 1971", (30, 400), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (150, 150, 150), 2)
    cv2.circle(window, (320, 200), 80, (255, 255, 255), -1)
    full = (window > 0).astype(np.uint8)
    full[window == 255] = 255
    return full, window


def test_text_only_the_window_shows_is_found_from_a_crop(detector):
    full, window = _window_only()
    run, shapes = _counting(detector)
    policy = Policy(device="cpu", reuse_layouts=False)
    assert detector([full])[0] == []  # "full" alone misses it
    found = find_text(full[None], window[None], policy, run)[0]
    assert shapes.count(full.shape) == 1  # "full" whole; the extra renderings only as crops
    name = (30, 385, 215, 402)
    covered = np.zeros((name[3] - name[1], name[2] - name[0]), bool)
    for d in found:
        if d.detector == f"{detector.name}-lines" and d.rendering == "window":
            a0, b0, a1, b1 = d.box
            covered[max(0, b0 - name[1]):max(0, b1 - name[1]), max(0, a0 - name[0]):max(0, a1 - name[0])] = True
    assert covered.mean() > 0.9, "the name was not found in the window's crops"


def test_a_busy_rendering_is_looked_at_whole(detector, monkeypatch):
    import scrubber.detect.find as find

    full, window = _window_only()
    monkeypatch.setattr(find, "WHOLE_SHARE", -1.0)  # every extra rendering counts as busy
    run, shapes = _counting(detector)
    found = find_text(full[None], window[None], Policy(device="cpu", reuse_layouts=False), run)[0]
    assert shapes.count(full.shape) == 4  # full, window, enhanced and dark, each whole
    assert any(d.detector == detector.name and d.rendering == "window" for d in found)


def test_text_lines_are_line_shaped_clusters_of_strokes():
    image = np.zeros((120, 400, 3), np.uint8)
    cv2.putText(image, "PATIENT 0012345", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (200, 200, 200), 2)
    cv2.rectangle(image, (20, 70), (380, 110), (90, 90, 90), -1)  # a flat panel: edges only
    lines = text_lines(image)
    assert any(x0 <= 12 and x1 >= 180 and 20 <= y0 and y1 <= 45 for x0, y0, x1, y1 in lines)
    assert not any(y0 >= 68 and y1 <= 112 and x1 - x0 > 300 for x0, y0, x1, y1 in lines)
