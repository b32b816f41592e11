"""Between the words of a line only marks are blanked, not the flat ground (scrubber/detect/gaps.py)."""
from __future__ import annotations

import cv2
import numpy as np

from scrubber.detect.find import find_text
from scrubber.detect.gaps import TOLERANCE, blank_lines
from scrubber.pipeline import plan_boxes
from scrubber.policy import Policy

FONT = cv2.FONT_HERSHEY_SIMPLEX
WORDS = [(40, 410, 90, 432), (110, 410, 180, 432)]  # two words of one line, 20 px apart


def _panel(frames: int = 1) -> np.ndarray:
    """A grey panel (60) on black whose top edge runs through the padded rows of WORDS."""
    stored = np.zeros((frames, 480, 640, 3), np.uint8)
    stored[:, 407:440, 20:620] = 60
    stored[:, 407] = 90  # the panel's bright top edge
    return stored


def _covers(boxes: list, x: int, y: int) -> bool:
    return any(x0 <= x < x1 and y0 <= y < y1 for x0, y0, x1, y1 in boxes)


def test_a_flat_gap_between_words_is_not_blanked_but_the_words_rows_are_kept():
    boxes = blank_lines(WORDS, _panel(), [0], TOLERANCE, 2, 0.1)
    assert len(boxes) == 2
    assert not _covers(boxes, 100, 420)  # the middle of the gap: ground, the panel edge included
    assert all(b[1] == boxes[0][1] and b[3] == boxes[0][3] for b in boxes)  # one line's rows
    assert _covers(boxes, 40, 410) and _covers(boxes, 179, 431)


def test_a_mark_in_the_gap_is_blanked_with_its_margin():
    stored = _panel()
    stored[0, 425:428, 99:101] = 200  # a full stop the detector skipped
    boxes = blank_lines(WORDS, stored, [0], TOLERANCE, 2, 0.1)
    assert _covers(boxes, 99, 425) and _covers(boxes, 100, 427) and _covers(boxes, 97, 426)


def test_a_faint_mark_just_above_the_tolerance_counts():
    stored = _panel()
    stored[0, 415:425, 100] = 60 + TOLERANCE + 1
    assert _covers(blank_lines(WORDS, stored, [0], TOLERANCE, 2, 0.1), 100, 420)
    stored[0, 415:425, 100] = 60 + TOLERANCE
    assert not _covers(blank_lines(WORDS, stored, [0], TOLERANCE, 2, 0.1), 100, 420)


def test_a_mark_in_any_frame_that_shows_the_words_blanks_the_gap():
    stored = _panel(3)
    stored[2, 420, 100] = 200
    assert _covers(blank_lines(WORDS, stored, [0, 1, 2], TOLERANCE, 2, 0.1), 100, 420)
    assert not _covers(blank_lines(WORDS, stored, [0, 1], TOLERANCE, 2, 0.1), 100, 420)


def test_padded_words_that_touch_or_leave_a_narrow_gap_are_one_box():
    touching = [(40, 410, 90, 432), (100, 410, 150, 432)]  # each padded by 5 columns: they touch
    assert len(blank_lines(touching, _panel(), [0], TOLERANCE, 2, 0.1)) == 1
    narrow = [(40, 410, 90, 432), (102, 410, 150, 432)]  # 2 flat columns between the padded words
    assert len(blank_lines(narrow, _panel(), [0], TOLERANCE, 2, 0.1)) == 1


def test_real_detector_words_far_apart_keep_their_flat_gap(detector):
    """Two words on a toolbar-like panel: DB boxes them apart, they are blanked as one line, and
    the panel between them keeps its pixels."""
    image = _panel()[0]
    cv2.putText(image, "DOE", (40, 428), FONT, 0.8, (220, 220, 220), 2)
    cv2.putText(image, "JOHN", (40 + cv2.getTextSize("DOE", FONT, 0.8, 2)[0][0] + 30, 428), FONT, 0.8,
                (220, 220, 220), 2)
    policy = Policy(device="cpu", reuse_layouts=False)
    found = find_text(image[None], None, policy, detector)
    boxes = plan_boxes(found, image[None], policy)[0]
    ink = np.argwhere(image[:, :, 0] == 220)
    assert all(_covers(boxes, x, y) for y, x in ink)
    words = sorted({(d.box[0], d.box[2]) for d in found[0] if d.box[1] > 380})
    assert max(a for a, _ in words) > min(b for _, b in words)  # found as two words
    gap = [x for x in range(90, 115) if not (image[410:432, x] == 220).any()]
    assert not any(_covers(boxes, x, 420) for x in gap[len(gap) // 2 - 1:len(gap) // 2 + 2])
