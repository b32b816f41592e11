"""Boxes spread over the frames of a clip (scrubber/detect/temporal.py)."""
from __future__ import annotations

from scrubber.detect.temporal import spread

SHORT, LONG = (100, 50, 160, 62), (100, 50, 240, 62)  # a label read in part, and whole, at one place


def test_an_overlay_seen_in_most_frames_is_blanked_in_every_frame_with_every_box_it_had():
    frames = [[SHORT], [LONG], [], [SHORT], [LONG], [LONG]]
    assert spread(frames) == [[LONG]] * 6


def test_a_label_shown_for_a_moment_is_blanked_in_its_frames_and_short_gaps_only():
    frames = [[]] * 10
    frames[3], frames[5] = [LONG], [LONG]
    assert spread(frames) == [[]] * 3 + [[LONG]] * 3 + [[]] * 4


def test_a_line_read_whole_in_one_frame_of_a_moment_is_blanked_whole_in_all_of_them():
    """Flicker: the detector reads the label whole in one frame of its moment and in part in the
    others; each frame of that moment gets the whole line."""
    frames = [[]] * 12
    frames[4:9] = [[SHORT], [SHORT], [LONG], [], [SHORT]]
    assert spread(frames)[4:9] == [[LONG]] * 5


def test_a_place_that_shows_two_labels_at_two_moments_keeps_each_one_s_boxes_to_its_own_frames():
    """A long label at one moment and a short one at the same place later join one track (they
    overlap), but the short one's frames are not blanked over the long one's width: a track's
    boxes once joined every frame it was seen in (the recall sweep's clips, which show labels at
    the same three places in turn: 1.6-3.6 % of a clip's pixels changed outside its text, 1.6-2.2 %
    so)."""
    frames = [[]] * 30
    frames[2:5] = [[LONG]] * 3
    frames[20:22] = [[SHORT]] * 2
    out = spread(frames)
    assert out[2:5] == [[LONG]] * 3
    assert out[20:22] == [[SHORT]] * 2
    assert all(not boxes for i, boxes in enumerate(out) if i not in (2, 3, 4, 20, 21))
