"""Boxes are tightened to what they hide: flat ground at their edges and between words stays
(scrubber/detect/tighten.py)."""
from __future__ import annotations

import copy
import math
from collections.abc import Callable

import cv2
import numpy as np

from scrubber.detect.find import find_text
from scrubber.detect.tighten import FAINT, TOLERANCE, marks, tighten
from scrubber.lru import Lru
from scrubber.pipeline import plan_boxes, scrub_dataset
from scrubber.policy import Policy

from .util import burned_case, recall_sweep

FONT = cv2.FONT_HERSHEY_SIMPLEX
LINE = (35, 405, 185, 437)  # a padded line box over WORDS
WORDS = [(40, 412, 90, 430), (110, 412, 180, 430)]  # two words of one line, 20 px apart
PAD = (2, 0.1)  # the default padding, pad_px and pad_frac ...
MARGIN = 4  # ... which the marks of WORDS (18 rows) get again


def _panel(frames: int = 1) -> np.ndarray:
    """A grey panel (60) on black whose bright top edge runs through LINE; ink (200) where WORDS are."""
    stored = np.zeros((frames, 480, 640, 3), np.uint8)
    stored[:, 407:440, 20:620] = 60
    stored[:, 407] = 90
    for x0, y0, x1, y1 in WORDS:
        stored[:, y0:y1, x0:x1:3] = 200  # strokes with ground between them
    return stored


def _covers(boxes: list, x: int, y: int) -> bool:
    return any(x0 <= x < x1 and y0 <= y < y1 for x0, y0, x1, y1 in boxes)


def test_flat_ground_between_words_and_around_them_stays():
    boxes = marks(_panel(), [0], LINE, TOLERANCE, *PAD)
    assert len(boxes) == 2
    assert not _covers(boxes, 100, 420)  # the middle of the gap
    assert not _covers(boxes, 60, 407) and not _covers(boxes, 60, 406)  # the panel's edge and the black above
    assert all((b[1], b[3]) == (412 - MARGIN, 430 + MARGIN) for b in boxes)  # the words' rows and the margin
    assert _covers(boxes, 40, 412) and _covers(boxes, 178, 429)
    assert _covers(boxes, 40 - MARGIN, 420) and not _covers(boxes, 40 - MARGIN - 1, 420)


def test_a_row_mostly_of_ink_takes_its_ground_from_the_box_ends():
    stored = _panel()
    stored[0, 415, 40:90] = stored[0, 415, 110:180] = 200  # the words' top bars: most of the row
    boxes = marks(stored, [0], LINE, TOLERANCE, *PAD)
    assert len(boxes) == 2 and not _covers(boxes, 100, 415)


def test_a_row_whose_ends_differ_takes_its_median_as_ground():
    stored = _panel()
    stored[0, 407, 35:43] = np.linspace(30, 90, 8).astype(np.uint8)[:, None]  # the panel's edge fades in
    boxes = marks(stored, [0], LINE, TOLERANCE, *PAD)
    assert len(boxes) == 2 and not _covers(boxes, 100, 407) and _covers(boxes, 40, 407)


def test_a_mark_between_the_words_is_blanked_with_its_margin():
    stored = _panel()
    stored[0, 425:428, 99:101] = 200  # a full stop the detector skipped
    boxes = marks(stored, [0], LINE, TOLERANCE, *PAD)
    assert all(_covers(boxes, x, y) for x in range(99 - MARGIN, 101 + MARGIN) for y in range(425, 428))


def test_a_faint_mark_just_above_the_tolerance_counts():
    stored = _panel()
    stored[0, 415:425, 100] = 60 + TOLERANCE + 1
    assert _covers(marks(stored, [0], LINE, TOLERANCE, *PAD), 100, 420)
    stored[0, 415:425, 100] = 60 + TOLERANCE
    assert not _covers(marks(stored, [0], LINE, TOLERANCE, *PAD), 100, 420)


def test_a_mark_in_any_frame_the_box_is_blanked_in_keeps_it():
    stored = _panel(3)
    stored[2, 434, 100] = 200  # below the words, in the last frame only
    boxes = tighten([[LINE], [LINE], [LINE]], stored, TOLERANCE, *PAD)
    assert all(_covers(frame, 100, 434) for frame in boxes)
    assert not any(_covers(frame, 100, 434) for frame in tighten([[LINE], [LINE], []], stored, TOLERANCE, *PAD))


def test_a_box_where_nothing_stands_out_is_kept_whole():
    stored = _panel()
    assert marks(stored, [0], (300, 410, 360, 430), TOLERANCE, *PAD) == [(300, 410, 360, 430)]


def test_a_box_over_the_same_pixels_is_judged_once(monkeypatch):
    """The files of a series blank their labels' boxes over the same pixels file after file: a box
    is judged once and the same parts are given again; over other pixels (a mark between the
    words) it is judged again, and its parts follow them."""
    from scrubber.detect import tighten as module

    judged, alone = [], marks(_panel(), [0], LINE, TOLERANCE, *PAD)
    monkeypatch.setattr(module, "_memory", Lru(module.REMEMBERED))
    judge = module._judged
    monkeypatch.setattr(module, "_judged", lambda region, box, *args: judged.append(box) or judge(region, box, *args))
    first = tighten([[LINE]], _panel(), TOLERANCE, *PAD)
    assert first == [alone] and len(first[0]) == 2 and len(judged) == 1
    assert tighten([[LINE], [LINE]], _panel(2)[:1].repeat(2, axis=0), TOLERANCE, *PAD) == [first[0], first[0]]
    assert tighten([[LINE]], _panel(), TOLERANCE, *PAD) == first and len(judged) == 2  # one frame, then two
    stored = _panel()
    stored[0, 425:428, 99:101] = 200
    assert len(tighten([[LINE]], stored, TOLERANCE, *PAD)[0]) == 1 and len(judged) == 3


def test_a_box_too_large_to_judge_over_its_frames_is_kept_whole(monkeypatch):
    from scrubber.detect import tighten as module

    monkeypatch.setattr(module, "MOST_VALUES", 2 * (LINE[2] - LINE[0]) * (LINE[3] - LINE[1]) * 3)
    assert len(marks(_panel(2), [0, 1], LINE, TOLERANCE, *PAD)) == 2
    assert marks(_panel(3), [0, 1, 2], LINE, TOLERANCE, *PAD) == [LINE]


def test_a_box_with_a_word_of_faint_text_is_kept_whole():
    """Through JPEG parts of a label 8 grey levels off its ground sink within the tolerance: a box
    with a word of faint marks is not tightened, whatever else it holds."""
    stored = _panel()
    stored[0, 412:430, 40:90] = 60
    stored[0, 412:430, 40:90:3] = 60 + FAINT * TOLERANCE
    assert marks(stored, [0], LINE, TOLERANCE, *PAD) == [LINE]
    stored[0, 412:430, 40:90:3] = 60 + FAINT * TOLERANCE + 1
    assert len(marks(stored, [0], LINE, TOLERANCE, *PAD)) == 2


def test_a_few_faint_marks_of_structure_do_not_keep_a_box_whole():
    stored = _panel()
    stored[0, 431:437, 65] = 60 + FAINT * TOLERANCE  # a separator's faded end below a word
    boxes = marks(stored, [0], LINE, TOLERANCE, *PAD)
    assert len(boxes) == 2 and _covers(boxes, 65, 436) and not _covers(boxes, 100, 420)


def test_colour_that_only_one_sample_shows_is_a_mark():
    stored = _panel()
    stored[0, 418:424, 98:102, 2] = 70  # blue only, 10 levels
    assert _covers(marks(stored, [0], LINE, TOLERANCE, *PAD), 100, 420)


def test_palette_indices_and_bit_planes_are_exact():
    stored = np.zeros((1, 480, 640, 1), np.uint8)
    stored[0, 412:430, 40:90:3] = 1
    stored[0, 420, 100] = 1
    exact = marks(stored, [0], LINE, 0, *PAD)
    assert _covers(exact, 100, 420) and not _covers(exact, 60, 406)
    assert marks(stored, [0], LINE, TOLERANCE, *PAD) == [LINE]  # read as 8-bit grey, nothing stands out


def test_real_detector_words_far_apart_keep_the_ground_between_and_around(detector):
    """Two words on a toolbar-like panel: every glyph pixel is blanked, the panel between the words
    and above and below them keeps its pixels."""
    image = np.zeros((480, 640, 3), np.uint8)
    image[400:440, 20:620] = 60
    cv2.putText(image, "DOE", (40, 428), FONT, 0.8, (220, 220, 220), 2)
    cv2.putText(image, "JOHN", (40 + cv2.getTextSize("DOE", FONT, 0.8, 2)[0][0] + 30, 428), FONT, 0.8,
                (220, 220, 220), 2)
    policy = Policy(device="cpu", reuse_layouts=False)
    found = find_text(image[None], None, policy, detector)
    boxes = plan_boxes(found, image[None], policy)[0]
    ink = np.argwhere(np.abs(image[:, :, 0].astype(int) - 60) > TOLERANCE)
    ink = ink[(ink[:, 0] >= 400) & (ink[:, 0] < 440) & (ink[:, 1] >= 20) & (ink[:, 1] < 620)]
    assert all(_covers(boxes, x, y) for y, x in ink)
    blanked = np.zeros(image.shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        blanked[y0:y1, x0:x1] = True
    near = np.zeros_like(blanked)
    y0, x0 = ink.min(axis=0)
    y1, x1 = ink.max(axis=0)
    margin = policy.pad_px + math.ceil(policy.pad_frac * (y1 + 1 - y0))
    near[y0 - margin:y1 + 1 + margin, x0 - margin:x1 + 1 + margin] = True
    assert not (blanked & ~near).any()  # nothing beyond the glyphs' margin
    empty = [x for x in range(x0, x1) if not (np.abs(image[400:440, x, 0].astype(int) - 60) > TOLERANCE).any()]
    gap = max(np.split(np.array(empty), np.flatnonzero(np.diff(empty) > 1) + 1), key=len)  # between the words
    assert len(gap) > 2 * margin and not any(_covers(boxes, x, 420) for x in gap[margin:-margin])


def test_a_vertical_line_is_joined_and_padded_along_its_columns():
    """A line read turned (running down the image, 200 px tall and 12 wide) beside a word: joined
    along rows, the tall line would take in the word 18 px away and the ground between; it is
    padded by its width's share instead of its height's, and stays apart."""
    from scrubber.detect.boxes import Detection

    stored = np.zeros((1, 480, 640, 3), np.uint8)  # nothing stands out: boxes are kept as planned
    vertical, word = (100, 50, 112, 250), (130, 100, 200, 112)
    found = [[Detection(vertical, "db-turned", "turned"), Detection(word, "db", "full")]]
    boxes = plan_boxes(found, stored, Policy(device="cpu", pad_px=PAD[0], pad_frac=PAD[1]))[0]
    grow = PAD[0] + math.ceil(PAD[1] * 12)
    assert sorted(boxes) == sorted([(100 - grow, 50 - grow, 112 + grow, 250 + grow),
                                    (130 - grow, 100 - grow, 200 + grow, 112 + grow)])


def test_lines_of_a_turned_page_are_padded_by_their_own_height_not_the_paragraphs():
    """Three lines of print slanting across each other's rows (a page turned in the scanner) join
    into one box as tall as the paragraph; it is padded by the tallest line's share, as each line
    would be, not by the paragraph's (which blanked 13 px of paper around a 7 px print paragraph)."""
    from scrubber.detect.boxes import Detection

    stored = np.zeros((1, 480, 640, 3), np.uint8)  # nothing stands out: boxes are kept as planned
    lines = [(40, 100 + 14 * k, 560, 145 + 14 * k) for k in range(3)]  # 45 px tall, 14 px apart
    found = [[Detection(line, "db", "full") for line in lines]]
    boxes = plan_boxes(found, stored, Policy(device="cpu", pad_px=PAD[0], pad_frac=PAD[1]))[0]
    grow = PAD[0] + math.ceil(PAD[1] * 45)
    assert boxes == [(40 - grow, 100 - grow, 560 + grow, 173 + grow)]


def _turned_page(skew: float) -> tuple[np.ndarray, np.ndarray]:
    """Grainy paper (232, grain 3, lit 12 levels brighter from left to right) with a line of 7 px
    print in black, turned ``skew`` degrees as a scanner turns a page; and where the print is."""
    rng = np.random.default_rng(7)
    paper = 232 + rng.normal(0, 3, (200, 640)) + np.linspace(-6, 6, 640)[None, :]
    image = np.repeat(np.clip(paper, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    ink = np.zeros((200, 640), np.uint8)
    cv2.putText(ink, "Springfield General on 05/12/2026 at the request of Dr A Who, 12 High St", (40, 100),
                FONT, 0.3, 255, 1, cv2.LINE_AA)
    turn = cv2.getRotationMatrix2D((320, 100), skew, 1.0)
    image = cv2.warpAffine(image, turn, (640, 200), flags=cv2.INTER_LINEAR, borderValue=(232,) * 3)
    ink = cv2.warpAffine(ink, turn, (640, 200), flags=cv2.INTER_LINEAR)
    image[ink > 0] = (image[ink > 0] * (1 - ink[ink > 0, None] / 255) + 20 * ink[ink > 0, None] / 255).astype(np.uint8)
    return image[None], ink >= 128


def test_a_turned_line_on_grainy_unevenly_lit_paper_is_blanked_along_its_slope():
    """The paper's grain and its lighting (a ramp from one end of the box to the other) are ground,
    not marks; the line's box is then blanked in strips that follow its slope, each with the
    margin around every glyph pixel, instead of as one rectangle over the paper above and below."""
    stored, ink = _turned_page(4)
    ys, xs = np.nonzero(ink)
    margin = PAD[0] + math.ceil(PAD[1] * 20)
    box = (int(xs.min()) - margin, int(ys.min()) - margin, int(xs.max()) + 1 + margin, int(ys.max()) + 1 + margin)
    boxes = marks(stored, [0], box, TOLERANCE, *PAD)
    blanked = np.zeros(ink.shape, bool)
    for x0, y0, x1, y1 in boxes:
        blanked[y0:y1, x0:x1] = True
    assert blanked[ink].all()
    assert blanked.sum() < 0.6 * (box[2] - box[0]) * (box[3] - box[1])
    assert marks(_turned_page(0)[0], [0], box, TOLERANCE, *PAD) != [box]  # also level: the grain is no mark


def test_a_turned_rule_that_crosses_a_box_is_left_out():
    """A table's rule turned with the page runs across the rows of a word's box: it hides nothing
    and is left out, as a level rule (the ground of its rows) is; the words keep their margin."""
    stored = _panel()
    for x in range(LINE[0], LINE[2]):
        stored[0, 434 - (x - LINE[0]) * 7 // 100, x] = 200  # 4 degrees, 10 px below the words at the left
    boxes = marks(stored, [0], LINE, TOLERANCE, *PAD)
    assert _covers(boxes, 40, 412) and _covers(boxes, 178, 429)
    assert all(b[3] <= 430 + MARGIN for b in boxes)


def test_rules_that_leave_a_cell_box_through_its_bottom_or_run_down_its_end_are_left_out():
    """A table cell's box on a page turned 4 degrees (the sweep's scanned forms): the cell's lower
    rule comes in at the box's left end and leaves through its bottom, and the cell's left rule
    runs down the box's end from the words' rows to the bottom. Neither crosses the box from end to
    end, and both kept the box's rows down to its bottom (the sweep's cells blanked three times the
    label's height); they hide nothing and are left out, the words keep their margin."""
    cell = (35, 400, 185, 460)
    stored = np.zeros((1, 480, 640, 3), np.uint8)
    stored[:, 380:480] = 60
    for x0, y0, x1, y1 in WORDS:
        stored[:, y0:y1, x0:x1:3] = 200
    for x in range(cell[0], 320):
        stored[0, 450 + (x - cell[0]) * 7 // 100, x] = 200  # out through the bottom at x 178
    for y in range(415, 480):
        x = cell[0] + (y - 415) * 7 // 100
        stored[0, y, x:x + 2] = 200
    boxes = marks(stored, [0], cell, TOLERANCE, *PAD)
    assert _covers(boxes, 40, 412) and _covers(boxes, 178, 429)
    assert all(412 - MARGIN <= b[1] and b[3] <= 430 + MARGIN for b in boxes)


def test_faint_banner_labels_burned_into_a_clip_over_its_sector_stay_removed(detector):
    """The sweep's "static" labels 8 grey levels darker than a banner of 170, through JPEG q85, in
    12 frames of color3d over its sector: over the frames, a box's ends take in the sector's
    speckle beside the banner, which passed for paper grain and raised the tolerance over the
    labels' faint strokes (one of them was cut). The grain tolerance is for a single image alone."""
    covered = _static_covered(detector, {"ground": 170, "delta": -8, "font": "truetype", "jpeg": 85})
    assert min(covered()) >= recall_sweep().COVERED


def _static_covered(detector, condition: dict) -> Callable[[], list[float]]:
    """A function that scrubs the recall sweep's "static" case drawn under ``condition`` (its labels
    in 12 frames of color3d, over its sector) and gives each label's share covered (the sweep's
    score: in every frame)."""
    sweep = recall_sweep()
    clip, case = burned_case(condition)
    ds = sweep.moving_template(clip, len(case.image))
    ds.PixelData = case.image.tobytes()

    def covered() -> list[float]:
        result = scrub_dataset(copy.deepcopy(ds), Policy(device="cpu", reuse_layouts=False), detector,
                               keep_pixels=True)
        after = np.asarray(result.after).reshape(case.image.shape)
        return sweep.score(case, result.boxes, after, [])["covered"]

    return covered


def test_a_label_beside_rows_a_clip_marks_end_to_end_keeps_its_strokes(detector, monkeypatch):
    """The sweep's "static" labels 12 grey levels darker than a banner of 100 (no JPEG), in 12
    frames of color3d over its sector: over the frames, the box's ends take in the sector, so some
    of its rows are marked end to end, thin, as a rule is, right beside the 12 px label's strokes.
    Those rows are left out, but not what touches them (a single image's rule takes its rim):
    taking that too left the label's upper half unblanked (87 % of its glyph pixels covered)."""
    from scrubber.detect import tighten

    covered = _static_covered(detector, {"ground": 100, "delta": -12, "font": "truetype", "jpeg": None})
    assert min(covered()) >= recall_sweep().COVERED
    rules = tighten._rules
    monkeypatch.setattr(tighten, "_rules", lambda marked, rims: rules(marked, True))
    monkeypatch.setattr(tighten, "_memory", Lru(tighten.REMEMBERED))  # its boxes were tightened before the change
    assert min(covered()) < recall_sweep().COVERED
