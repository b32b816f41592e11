"""One image: the extra renderings are looked at where they show text that "full" left uncovered.

The real detector runs; calls are counted by image shape, so a whole-image pass is told from a
crop. Recall is the point: text that only an extra rendering shows must still be found, now from
a crop of that rendering.
"""
from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from pydicom import dcmread

from scrubber.detect import buckets, looks, proposer, series, single, unread
from scrubber.detect.find import find_text
from scrubber.detect.proposer import (LINE_CLOSE, LINE_FILL, LINE_MAX_HEIGHT, LINE_MIN_HEIGHT, lines_of, strokes,
                                       text_lines)
from scrubber.detect.boxes import overlaps
from scrubber.detect.renderings import SMOOTH_WINDOW, enhance, smooth
from scrubber.policy import Policy

from .util import Counted, data_path, glyph_covered, recall_sweep, us1_with_a_banner


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
    assert shapes.count(full.shape) == 3  # "full", "local" and "smooth" whole; the others only as crops
    # ("ink" not at all: no line of dark pixels next to bright ground, only the disc's rim)
    name = (30, 385, 215, 402)
    covered = np.zeros((name[3] - name[1], name[2] - name[0]), bool)
    for d in found:
        if d.detector == f"{detector.name}-lines" and d.rendering == "window":
            a0, b0, a1, b1 = d.box
            covered[max(0, b0 - name[1]):max(0, b1 - name[1]), max(0, a0 - name[0]):max(0, a1 - name[0])] = True
    assert covered.mean() > 0.9, "the name was not found in the window's crops"


def test_a_busy_rendering_is_looked_at_whole(detector, monkeypatch):
    full, window = _window_only()
    monkeypatch.setattr(single, "WHOLE_SHARE", -1.0)  # every extra rendering counts as busy
    run, shapes = _counting(detector)
    found = find_text(full[None], window[None], Policy(device="cpu", reuse_layouts=False), run)[0]
    assert shapes.count(full.shape) == 6  # full, window, enhanced, local, dark and smooth, each whole
    # ("ink": no dark type on bright ground here)
    assert any(d.detector == detector.name and d.rendering == "window" for d in found)


def test_text_lines_are_line_shaped_clusters_of_strokes():
    image = np.zeros((120, 400, 3), np.uint8)
    cv2.putText(image, "PATIENT 0012345", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (200, 200, 200), 2)
    cv2.rectangle(image, (20, 70), (380, 110), (90, 90, 90), -1)  # a flat panel: edges only
    lines = text_lines(image)
    assert any(x0 <= 12 and x1 >= 180 and 20 <= y0 and y1 <= 45 for x0, y0, x1, y1 in lines)
    assert not any(y0 >= 68 and y1 <= 112 and x1 - x0 > 300 for x0, y0, x1, y1 in lines)


def test_a_faint_line_that_runs_into_a_bright_one_is_still_a_line_on_flat_ground(monkeypatch):
    """The recall sweep's 18 px label 12 grey levels above black, in US1's surround, ends beside
    the device's own white text: its faint strokes and that text form one line, which sharp
    strokes cover only in part; it stays a line of faint strokes (SHARP_SHARE)."""
    base = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    wanted = {"ground": 0, "delta": 12, "font": "hershey-duplex", "jpeg": None}
    case = next(c for c in recall_sweep().cases(base) if c.condition == wanted)
    x, y, mask = case.glyphs[case.heights.index(18)]
    label = (x, y, x + mask.shape[1], y + mask.shape[0])
    spans = lambda lines: any(b[0] <= label[0] and b[2] >= label[2] and b[1] <= label[1] + 4  # noqa: E731
                              and b[3] >= label[3] - 4 for b in lines)
    assert spans(text_lines(enhance(case.image), on_flat=True))
    monkeypatch.setattr(proposer, "SHARP_SHARE", 1e-6)  # any sharp stroke takes the line
    assert not spans(text_lines(enhance(case.image), on_flat=True))


@pytest.mark.parametrize("keep", [1.0, 0.5, 0.0], ids=["strokes", "thinned", "empty"])
def test_lines_of_works_on_the_strokes_bounding_rectangle_with_the_boxes_of_the_whole_mask(keep):
    """``lines_of`` closes only the strokes' bounding rectangle (with a margin): the boxes are
    those of closing the whole mask, also where strokes touch the image's edge (US1's right)."""
    frame = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    mask = strokes(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
    mask = (mask & (np.random.default_rng(3).random(mask.shape) < keep)).astype(np.uint8)
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((1, LINE_CLOSE), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    whole = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:count].tolist()
             if LINE_MIN_HEIGHT <= h <= LINE_MAX_HEIGHT and area >= LINE_FILL * w * h]
    assert sorted(lines_of(mask)) == sorted(whole)
    assert keep == 0 or whole


def _sweep_label_covered(detector, wanted: dict, height: int, group: str | None = None) -> Callable[..., float]:
    """The share of one label of the recall sweep (the case drawn on US1 under ``wanted``, of
    ``group`` when given, its label of ``height`` px) that ``find_text`` covers, measured when the
    returned function is called (with the default policy, or the one it is given)."""
    base = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    case = next(c for c in recall_sweep().cases(base) if c.condition == wanted and group in (None, c.group))
    glyph = case.glyphs[case.heights.index(height)]

    def covered(policy: Policy = Policy(device="cpu", reuse_layouts=False)) -> float:
        found = find_text(case.image[None], None, policy, detector)[0]
        return glyph_covered([d.box for d in found], base.shape[:2], glyph)

    return covered


def test_a_faint_line_an_extra_rendering_shows_is_read_whole_with_the_training_normalisation(detector, monkeypatch):
    """The recall sweep's 8 px label 8 grey levels above black, through JPEG q85: in the crop of
    its line DB reads three quarters of it at [-1, 1]; the second look at that crop, with the
    network's training normalisation, reads all of it."""
    covered = _sweep_label_covered(detector, {"ground": 0, "delta": 8, "font": "truetype", "jpeg": 85}, 8)
    monkeypatch.setattr(detector, "trained", False)
    assert covered() < 0.9
    monkeypatch.setattr(detector, "trained", True)
    assert covered() == 1.0


def test_a_label_only_the_training_normalisation_shows_is_found_in_the_whole_pass(detector, monkeypatch):
    """The recall sweep's 8 px label 60 grey levels above a grey banner of 170, through JPEG q85:
    at [-1, 1] DB gives it no box, in the whole pass or in the crops of lines; with the training
    normalisation the whole pass reads it. (The look at its banner alone, ``panels``, reads it at
    [-1, 1] too: turned off here.)"""
    monkeypatch.setattr(single, "panels", lambda image: [])
    covered = _sweep_label_covered(detector, {"ground": 170, "delta": 60, "font": "hershey-duplex", "jpeg": 85}, 8)
    monkeypatch.setattr(detector, "trained", False)
    assert covered() < 0.5
    monkeypatch.setattr(detector, "trained", True)
    assert covered() == 1.0


def test_small_type_just_below_a_pane_s_frame_is_read(detector, monkeypatch):
    """The sweep's "small" 5 px white label 3 px below a pane's frame over US1: DB gives it no box
    in the whole pass, and the line's strokes join the frame's into one shape too tall for a line.
    With the frame taken out (``unruled``) it is a line again, and the closer look reads it."""
    covered = _sweep_label_covered(detector, {"over": "tissue", "style": "white", "font": "truetype", "jpeg": None}, 5)
    assert covered() == 1.0
    monkeypatch.setattr(unread, "unruled", lambda mask, grey=None: mask)
    assert covered() < 0.5


@pytest.mark.parametrize("font", ["hershey-duplex", "hershey-simplex"])
def test_a_small_faint_label_on_black_is_read_close_up_in_the_local_rendering(detector, monkeypatch, font):
    """The sweep's "small" 5 px labels 25 grey levels above black: their strokes lie below
    MIN_CONTRAST, so no line of sharp strokes leads a closer look there; the whole passes give
    no box, or one 3 px short of its end. A line of faint strokes on flat ground that the boxes do
    not read to its ends is looked at close up in the "local" rendering, which reads it whole (the
    full rendering at that size does not)."""
    covered = _sweep_label_covered(detector, {"over": "banner", "ground": 0, "delta": 25, "font": font,
                                              "jpeg": None}, 5)
    assert covered() == 1.0
    monkeypatch.setattr(unread, "localise", lambda image: image)
    assert covered() < 0.98


def test_a_label_too_faint_for_strokes_is_found_by_its_banner(detector, monkeypatch):
    """The recall sweep's 8 px label 8 grey levels above a grey banner of 100, through JPEG q85:
    it forms no line of strokes in any rendering (CLAHE lifts the banner's JPEG noise as much as
    the glyphs), but its banner is a flat panel, and a look at that panel alone in the enhanced
    rendering reads it (``proposer.panels``). (The look by the banner's exact grey, which JPEG
    leaves between the glyphs, reads it too: turned off here.)"""
    covered = _sweep_label_covered(detector, {"ground": 100, "delta": 8, "font": "hershey-duplex", "jpeg": 85}, 8)
    assert covered() == 1.0
    monkeypatch.setattr(unread, "level_lines", lambda image, usual=None: [])
    monkeypatch.setattr(single, "panels", lambda image: [])
    assert covered() < 0.5


def test_panels_are_flat_banners_of_a_line_s_size_not_black_or_tissue():
    """US1 alone has none (black surround, tissue, bright text); each of the sweep's grey banners
    is one, to within the closing's reach."""
    base = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    assert proposer.panels(base) == []
    case = next(c for c in recall_sweep().cases(base)
                if c.condition == {"ground": 40, "delta": 12, "font": "truetype", "jpeg": 85})
    banners = [(x - 5, y - 5, x + m.shape[1] + 5, y + m.shape[0] + 5) for x, y, m in case.glyphs]
    found = proposer.panels(case.image)
    assert len(found) == len(banners)
    for banner in banners:
        assert any(all(abs(a - b) <= 3 for a, b in zip(banner, panel)) for panel in found), (banner, found)


def test_a_banner_over_flat_tissue_is_a_panel_once_its_edges_are_cut_out(monkeypatch):
    """The recall sweep's "static" banners over color3d's sector, on the clip's static layer (the
    median over frames blurs the moving sector into flat tissue): the close that fills a label's
    strokes joined each banner to that tissue, so none was a panel; cutting out the pixels at or
    beside a step of PANEL_STEP grey levels after the close gives each banner back."""
    from scrubber.detect.motion import analyse, static_layer

    frames = dcmread(data_path("color3d_jpeg_baseline.dcm")).pixel_array
    case = next(c for c in recall_sweep().static_cases(frames)
                if c.condition == {"ground": 170, "delta": 8, "font": "truetype", "jpeg": 85})
    layer = static_layer(analyse(case.image))
    banners = [(x - 5, y - 5, x + m.shape[1] + 5, y + m.shape[0] + 5) for x, y, m in case.glyphs]

    def found() -> list[bool]:
        return [any(all(abs(a - b) <= 3 for a, b in zip(banner, panel)) for panel in proposer.panels(layer))
                for banner in banners]

    assert all(found())
    monkeypatch.setattr(proposer, "PANEL_STEP", 256)
    assert not any(found())


@pytest.mark.parametrize("ground, delta, font", [(40, 25, "hershey-simplex"), (170, 60, "hershey-duplex")])
def test_a_box_short_of_small_type_on_its_banner_reaches_to_the_end_of_the_banner_s_ink(
        detector, monkeypatch, ground, delta, font):
    """The recall sweep's 5 px labels on grey banners through JPEG q85: DB reads each a word or a
    few letters short (the looks at its banner too), and the letters left stand; the banner's ink
    is one run that ends on its flat ground, and the boxes on it reach to its ends
    (``panel_ink.reach_panel_ink``)."""
    covered = _sweep_label_covered(detector, {"over": "banner", "ground": ground, "delta": delta, "font": font,
                                              "jpeg": 85}, 5, group="small")
    assert covered() >= 0.98
    monkeypatch.setattr(single, "reach_panel_ink", lambda image, found: list(found))
    assert covered() < 0.98


@pytest.mark.parametrize("name, box", [("color3d_jpeg_baseline.dcm", (251, 461, 290, 476)),
                                       ("examples_ybr_color.dcm", (53, 228, 135, 239))])
def test_a_box_on_a_toolbar_does_not_reach_over_its_icons(name, box):
    """Real toolbars (the first frames of pydicom-data's color3d and of its half-size copy
    examples_ybr_color), with boxes their looks give over a word or two: at full size the panel's
    icons, words and dividers are runs of ink apart; at half size they blur into one run that
    reaches the panel's sides. Neither is a label on a banner, and the box stays; the same box
    with the rule off (one run wherever ink lies) reaches over the icons."""
    from scrubber.detect import panel_ink
    from scrubber.detect.boxes import Detection

    frame = np.ascontiguousarray(dcmread(data_path(name)).pixel_array[0])
    found = [Detection(box, "db", "full")]
    assert proposer.panels(frame) and panel_ink.reach_panel_ink(frame, found) == found
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(panel_ink, "LEAST_GAP", frame.shape[1])
        patch.setattr(panel_ink, "MARGIN", -1)
        assert panel_ink.reach_panel_ink(frame, found) != found


def test_type_whose_luminance_is_the_tissue_s_is_read_in_its_colour_plane(detector, monkeypatch):
    """The recall sweep's "colour" labels in blue over US1's panes, 8 and 12 px (one touches the
    colour flow): blue has about the luminance of the tissue under it, so the labels form no
    strokes in the image and DB gives them no box; in the blue plane (``colour_plane``) they
    stand alone, light on black, and the closer look at their lines there reads them (as do the
    look by their exact colour, ``ink_looks``, and the one at their lines of blue's core hue,
    ``hue_lines``: all three are taken away to show that nothing else does)."""
    wanted = {"colour": "blue", "over": "US1", "font": "hershey-duplex", "jpeg": None}
    small, middle = (_sweep_label_covered(detector, wanted, height) for height in (8, 12))
    assert small() == 1.0 and middle() == 1.0
    monkeypatch.setattr(unread, "colour_lines", lambda image, where=None: [])
    monkeypatch.setattr(unread, "ink_lines", lambda image: [])
    monkeypatch.setattr(unread, "hue_lines", lambda image, where=None: [])
    assert small() < 0.5 and middle() < 0.5


def test_the_look_at_a_line_of_one_colour_reaches_along_it(detector, monkeypatch):
    """The recall sweep's 12 px dark blue label over US1's right pane, through JPEG q85: JPEG blurs
    the colour of its thin strokes, so its middle letters fall in the magenta sector or turn grey
    and it forms two blue lines, one at each end; the looks at those reach along them (``wide``)
    and read the whole label. Cut at each line's own margin, they leave its middle standing."""
    covered = _sweep_label_covered(detector, {"colour": "dark blue", "over": "US1", "font": "truetype", "jpeg": 85},
                                   12)
    assert covered() == 1.0
    monkeypatch.setattr(looks, "LINE_REACH", 1)  # a wide crop reaches no further than a plain one
    assert covered() < 0.8


def test_a_colour_look_s_box_a_letter_short_of_its_line_is_widened_to_it(detector, monkeypatch):
    """The recall sweep's 8 px dark red label over US1's pane, through JPEG q85: DB in its colour
    plane leaves its first letter out, while its line of dark red reaches it. As for the level
    looks, a box over at least WIDEN_SHARE of the line's columns is widened to them (the sweep,
    padded and tightened: 0.81 -> 0.98 of its glyph pixels covered)."""
    covered = _sweep_label_covered(detector, {"colour": "dark red", "over": "US1", "font": "hershey-duplex",
                                              "jpeg": 85}, 8)
    assert covered() > 0.9
    monkeypatch.setattr(looks, "WIDEN_SHARE", 2.0)
    assert covered() < 0.85


def test_a_line_that_runs_past_the_crop_of_its_first_word_is_followed_to_its_end(detector, monkeypatch):
    """A look at the place of a label's first word that reaches along the line (``wide``: four
    heights past it) reads the label up to the crop's side; that box is followed, a crop reaching
    along the line from it, and the label is read to its end (in a clip, a faint 18 px label shown
    for a moment was read from its first two words' places only, to a third short of its end)."""
    frame = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array).copy()
    text, first, org = "SMITH^JOHN ACC 99887766", "SMITH^JOHN", (20, 430)  # in the black surround
    cv2.putText(frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 200, 200), 1, cv2.LINE_AA)
    (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
    first_width = cv2.getTextSize(first, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)[0][0]
    place = (org[0], org[1] - height, org[0] + first_width, org[1] + base)

    def reach() -> int:
        queue = looks.Looks(detector, "test")
        queue.add(0, frame, place, 1.5, wide=True)
        return max(d.box[2] for _, d in queue.run())

    assert reach() >= org[0] + width
    monkeypatch.setattr(looks, "FOLLOW_ROUNDS", 0)
    assert reach() < org[0] + width - 40


def test_a_followed_line_is_cut_from_its_image_given_again_and_a_queued_crop_holds_no_frame(detector):
    """A clip's crops, queued in every frame, would hold every frame (its RGB frames are rendered
    on demand): a ``wide`` crop given a ``source`` keeps that instead of its image, and the line
    it follows is cut from what ``source`` gives, read to its end as from the image itself."""
    frame = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array).copy()
    text, first, org = "SMITH^JOHN ACC 99887766", "SMITH^JOHN", (20, 430)
    cv2.putText(frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 200, 200), 1, cv2.LINE_AA)
    (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
    place = (org[0], org[1] - height, org[0] + cv2.getTextSize(first, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)[0][0],
             org[1] + base)
    given: list[int] = []

    def source() -> np.ndarray:
        given.append(1)
        return frame.copy()

    image = frame.copy()
    held = weakref.ref(image)
    queue = looks.Looks(detector, "test")
    queue.add(0, image, place, 1.5, wide=True, source=source)
    del image
    assert held() is None
    assert max(d.box[2] for _, d in queue.run()) >= org[0] + width
    assert given


def test_a_label_whose_line_ends_where_it_runs_into_colour_flow_is_read_to_its_end(detector, monkeypatch):
    """The recall sweep's 12 px grey label over US1's pane that runs into the colour flow: its line
    of strokes ends 32 px short of the label's end, where its strokes join the flow's. The look at
    the line in "neutral" reaches along it (``wide``) and reads it to its end; a crop of the line
    alone stopped 15 px short. (The line of its strokes in the least channel, where the flow is dark,
    runs to its end: that look is left out here.)"""
    covered = _sweep_label_covered(detector, {"style": "grey", "font": "hershey-simplex", "jpeg": None}, 12,
                                   group="tissue")
    monkeypatch.setattr(unread, "_lines_over_colour", lambda image, known, window=None: [])
    assert covered() >= 0.98
    monkeypatch.setattr(looks, "LINE_REACH", 0)
    assert covered() < 0.9


@pytest.mark.parametrize("jpeg, height", [(None, 6), (85, 7)])
def test_small_grey_type_over_colour_flow_is_read_by_the_lines_of_the_least_channel(detector, monkeypatch, jpeg,
                                                                                    height):
    """The recall sweep's small grey type over US1's colour flow (6 px "ST ELSEWHERE", and 7 px
    through JPEG q85): in the grey image its strokes join the flow's into no line, and the whole
    passes give it no box; in the least channel the flow is dark, the type forms a line there
    (``unread._lines_over_colour``), and DB reads it in "neutral"."""
    covered = _sweep_label_covered(detector, {"over": "tissue", "style": "grey", "font": "hershey-simplex",
                                              "jpeg": jpeg}, height, group="small")
    assert covered() >= 0.98
    monkeypatch.setattr(unread, "_lines_over_colour", lambda image, known, window=None: [])
    assert covered() < 0.5


def test_a_recheck_s_box_at_the_side_of_its_crop_is_followed_along_the_line(detector, monkeypatch):
    """The recall sweep's 7 px grey "DOB 1971-04-09" over US1's dark tissue: its line of strokes
    ends at "1971-" (its last letters lie over brighter speckle), the recheck's crop of that line
    ends 8 px later, and DB's box there runs to the crop's side, "04-09" left standing. The box is
    followed past the side (``Looks.add``'s ``follow``), as a crop reaching along a line is, and the
    look there reads the label to its end."""
    covered = _sweep_label_covered(detector, {"over": "tissue", "style": "grey", "font": "hershey-simplex",
                                              "jpeg": None}, 7, group="small")
    assert covered() >= 0.98
    monkeypatch.setattr(looks, "FOLLOW_ROUNDS", 0)
    assert covered() < 0.9


def _type_over_flow(text: str, ink: tuple[int, int, int], width: int, least_green: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a grey ramp; the same with a red-to-yellow ramp, a Doppler palette, over its first
    ``width`` columns and ``text`` drawn over that in ``ink``, without anti-aliasing; the type's mask)."""
    grey = np.repeat(np.tile(np.arange(256, dtype=np.uint8), (64, 1))[..., None], 3, axis=2)
    image = grey.copy()
    flow = np.stack([np.full(width, 255), np.linspace(least_green, 255, width), np.zeros(width)], axis=1)
    image[:, :width] = flow.astype(np.uint8)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.putText(mask, text, (6, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1, 1, cv2.LINE_8)
    mask = mask.astype(bool)
    image[mask] = ink
    return grey, image, mask


def test_colour_lines_find_type_of_one_colour_over_flow_of_others():
    """A grey image has no coloured pixel and no colour line; blue type over red-to-yellow flow
    forms a line in its own hue sector, whose plane holds the type alone, light on black, while
    the flow's planes hold none of it."""
    from scrubber.detect.renderings import colour_plane, hue_sectors

    grey, image, blue = _type_over_flow("ID 0012345678", (0, 0, 255), 128, 0)
    assert (hue_sectors(grey) == -1).all() and proposer.colour_lines(grey) == []
    ys, xs = np.nonzero(blue)
    lines = [box for sector, box in proposer.colour_lines(image) if sector == 4]  # blue
    assert len(lines) == 1
    x0, y0, x1, y1 = lines[0]
    assert x0 <= xs.min() and y0 <= ys.min() and xs.max() < x1 and ys.max() < y1
    plane = colour_plane(image, 4)
    assert np.all(plane[blue] == 255) and not plane[~blue].any()
    assert not any(colour_plane(image, sector)[blue].any() for sector in (0, 1))


def test_type_of_the_flow_s_hue_is_read_in_the_rendering_of_its_exact_colour(detector, monkeypatch):
    """The recall sweep's red labels over US1: the 12 px date runs over the red-to-yellow Doppler,
    and the 8 px one (truetype) crosses its red edge. Their strokes join the flow's in their hue
    sector, so no line of one hue is found there; in the rendering of how near each pixel is to
    their exact colour (``ink_looks``), the flow falls dark and DB reads them (as does the look
    at the lines of red's core hue, ``hue_lines``: both are taken away to show that nothing else
    does)."""
    date = _sweep_label_covered(detector, {"colour": "red", "over": "US1", "font": "hershey-simplex", "jpeg": None}, 12)
    small = _sweep_label_covered(detector, {"colour": "red", "over": "US1", "font": "truetype", "jpeg": None}, 8)
    assert date() > 0.95 and small() > 0.95  # before the padding that takes both to 1.0 in the sweep
    monkeypatch.setattr(unread, "ink_lines", lambda image: [])
    monkeypatch.setattr(unread, "hue_lines", lambda image, where=None: [])
    assert date() < 0.5 and small() < 0.5


def test_red_type_through_jpeg_is_read_in_the_rendering_of_its_hue(detector, monkeypatch):
    """The recall sweep's red labels over US1 through JPEG q85 (truetype): the 12 px date over dark
    tissue between blobs of red-to-yellow flow, the 8 px one crossing the flow's red edge. JPEG's
    4:2:0 chroma leaves them no exact colour (``ink_lines``) and smears their red over the ground
    between their strokes, which joins the flow in their hue sector (``colour_lines``); within
    red's core hue they form lines of their own (``hue_lines``: the 8 px one only in the image
    blurred over HUE_BLUR pixels), and in the rendering of that hue DB reads them."""
    wanted = {"colour": "red", "over": "US1", "font": "truetype", "jpeg": 85}
    date, small = (_sweep_label_covered(detector, wanted, height) for height in (12, 8))
    assert date() > 0.95 and small() > 0.95  # before the padding that takes both to 1.0 in the sweep
    monkeypatch.setattr(proposer, "HUE_BLUR", 1)
    assert date() > 0.95 and small() < 0.5
    monkeypatch.setattr(unread, "hue_lines", lambda image, where=None: [])
    assert date() < 0.5


def test_hue_lines_are_lines_of_type_not_pieces_or_hearts_of_flow(monkeypatch):
    """pydicom's examples_rgb_color (US1 at half size, with its red-to-yellow Doppler) holds no
    text in its flow: the flow's red pieces are line-shaped within red's core hue but smooth in
    its rendering (``_stroked``), and the yellow heart of its largest blob is solid colour amid
    colour (``_apart``), so ``hue_lines`` gives none of them a look."""
    image = np.ascontiguousarray(dcmread(data_path("examples_rgb_color.dcm")).pixel_array)
    assert proposer.hue_lines(image) == []
    monkeypatch.setattr(proposer, "HUE_STROKES", 0.0)
    pieces = proposer.hue_lines(image)
    assert pieces and {hue for hue, _ in pieces} == {0}
    monkeypatch.setattr(proposer, "HUE_SOLID", 1.0)
    monkeypatch.setattr(proposer, "HUE_AMID", 1.0)
    assert {hue for hue, _ in proposer.hue_lines(image)} == {0, 43}


def test_the_bands_of_a_colour_bar_are_not_lines_of_one_colour(monkeypatch):
    """US1's two Doppler scales (colour bars left and right of its panes, one colour a row) hold
    bands of one hue sector and of one exact colour that have a line's shape; each band is
    filled by its colour (``_band``), where type leaves ground between its strokes, so neither
    ``colour_lines`` nor ``ink_lines`` gives it a look. US1's other lines of one colour (pieces
    of its flow) stay."""
    image = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    bars = ((14, 46), (595, 627))  # columns of the two colour bars

    def on_bars(lines) -> int:
        return sum(any(a <= box[0] and box[2] <= b for a, b in bars) for _, box in lines)

    colour, ink = proposer.colour_lines(image), proposer.ink_lines(image)
    assert on_bars(colour) == 0 and on_bars(ink) == 0 and len(ink) >= 5
    monkeypatch.setattr(proposer, "BAND_FILL", 1.01)
    assert on_bars(proposer.colour_lines(image)) == 2 and on_bars(proposer.ink_lines(image)) == 4
    assert len(proposer.ink_lines(image)) == len(ink) + 4


def test_ink_lines_are_the_lines_of_one_exact_colour_not_of_a_palette_s_ramp():
    """Red type over a ramp from red to yellow (a Doppler palette): the ramp's colours each hold
    a band of it, too thick to be strokes, and the type's colour gives one line, around it; in
    ``near_colour`` of that colour the type is white, and the ramp fades away from red. A grey
    image has no such line."""
    from scrubber.detect.renderings import near_colour

    grey, image, red = _type_over_flow("03/12/2026 14:22", (255, 0, 0), 192, 40)
    assert proposer.ink_lines(grey) == []
    found = proposer.ink_lines(image)
    assert [colour for colour, _ in found] == [(255, 0, 0)]
    ys, xs = np.nonzero(red)
    x0, y0, x1, y1 = found[0][1]
    assert x0 <= xs.min() and y0 <= ys.min() and xs.max() < x1 and ys.max() < y1
    near = near_colour(image, (255, 0, 0))
    assert np.all(near[red] == 255) and near[~red].max() < 255 - 4 * 24


def test_dark_grey_type_over_tissue_is_read_in_the_rendering_of_its_exact_grey(detector):
    """The recall sweep's dark labels (grey 25) over US1's panes: no darker than the speckle's
    grains and the hollows of the anatomy, they form no line in any rendering by brightness, and
    DB reads none of them there; by their exact grey (``level_lines``) they stand alone, and the
    look in ``level_rendering`` reads them, small type and large."""
    small = _sweep_label_covered(detector, {"style": "dark", "font": "hershey-duplex", "jpeg": None}, 12, "tissue")
    large = _sweep_label_covered(detector, {"style": "dark", "font": "truetype", "jpeg": None}, 36, "large")
    assert small() > 0.98 and large() > 0.98
    without = Policy(device="cpu", reuse_layouts=False, renderings=tuple(r for r in Policy().renderings
                                                                         if r != "level"))
    assert small(without) < 0.5 and large(without) < 0.5


def test_level_lines_are_the_lines_of_type_in_one_grey_not_speckle_an_ecg_trace_or_jpeg():
    """On the sweep's dark label over US1, ``level_lines`` gives the label's grey and a line over
    it; on US1 alone no grey but white (its own read labels) gives one, nor in the same label
    through JPEG, whose grey is no longer exact; on an echo with an ECG trace drawn in one grey
    (one long piece) and flat patches of one dark grey in its smooth sector (not standing out from
    the greys around them), none either but white."""
    from scrubber.detect.renderings import level_rendering

    base = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    cases = {c.condition["jpeg"]: c for c in recall_sweep().cases(base)
             if c.group == "large" and c.condition["style"] == "dark" and c.condition["font"] == "truetype"}
    found = proposer.level_lines(cases[None].image)
    assert {level for level, _ in found} == {25, 255}
    for x, y, mask in cases[None].glyphs:
        assert any(level == 25 and overlaps(line, (x, y, x + mask.shape[1], y + mask.shape[0]))
                   for level, line in found)
    assert {level for level, _ in proposer.level_lines(base)} == {255}
    assert {level for level, _ in proposer.level_lines(cases[85].image)} <= {255}
    echo = cv2.cvtColor(dcmread(data_path("JPGLosslessP14SV1_1s_1f_8b.dcm")).pixel_array, cv2.COLOR_GRAY2RGB)
    assert {level for level, _ in proposer.level_lines(echo)} == {255}
    x, y, mask = cases[None].glyphs[0]
    shown = level_rendering(cases[None].image, 25)[y:y + mask.shape[0], x:x + mask.shape[1], 0]
    assert shown[mask].mean() > 200 > shown[~mask].mean()


def test_a_level_look_s_box_a_letter_short_of_its_line_is_widened_to_it(detector, monkeypatch):
    """The sweep's 18 px dark Hershey simplex label over US1: DB in the level rendering leaves its
    first letter out (0.976 of its glyph pixels covered), while its line of exact grey reaches
    it. A box over at least WIDEN_SHARE of the line's columns is widened to them, by a letter at
    most each way; a box over a short part of a longer line (one of two labels it joins) is not."""
    covered = _sweep_label_covered(detector, {"style": "dark", "font": "hershey-simplex", "jpeg": None}, 18, "tissue")
    assert covered() >= 0.98
    monkeypatch.setattr(looks, "WIDEN_SHARE", 2.0)
    assert covered() < 0.98
    monkeypatch.undo()
    assert looks._widened((92, 20, 194, 31), (64, 16, 194, 32)) == (81, 20, 194, 31)
    assert looks._widened((65, 32, 189, 60), (67, 35, 548, 70)) == (65, 32, 189, 60)
    assert looks._widened((10, 0, 40, 10), (0, 20, 50, 30)) == (10, 0, 40, 10)


def test_level_lines_try_the_greys_that_stand_out_from_their_neighbours_not_the_most_held():
    """On color3d's sector the near-black greys 1-6 each hold more flat pixels than the sweep's 25
    grey truetype type ("moving"), but each fewer than its darker neighbour: grey 25 is among the
    LEVELS greys tried only when those are chosen among the greys that stand out from their
    neighbours, and its lines then lie over the 12 and 18 px labels."""
    frames = dcmread(data_path("color3d_jpeg_baseline.dcm")).pixel_array
    case = next(c for c in recall_sweep().moving_cases(frames)
                if c.condition == {"style": "dark", "font": "truetype", "jpeg": None})
    counts = proposer.flat_counts(case.image)
    assert list(np.argsort(-counts)).index(25) >= proposer.LEVELS, "25 is among the most held; this shows nothing"
    found = proposer.level_lines(case.image)
    for (x, y, mask), height in zip(case.glyphs, case.heights):
        if height > 8:
            assert any(level == 25 and overlaps(line, (x, y, x + mask.shape[1], y + mask.shape[0]))
                       for level, line in found), height


def test_a_ct_s_near_black_noise_around_the_body_is_no_line_of_one_grey(detector, monkeypatch):
    """A CT (explicit_VR-UN, no text): its near-black noise around the body holds one grey (9) in
    pieces that join into a line 85 px tall, and a look there read a patch of anatomy as text.
    Level lines are at most LEVEL_TALL high: nothing is found."""
    from scrubber.pipeline import scrub_dataset

    ds = dcmread(data_path("explicit_VR-UN.dcm"))
    policy = Policy(device="cpu", reuse_layouts=False)
    assert scrub_dataset(ds, policy, detector).boxes == [[]]
    monkeypatch.setattr(proposer, "LEVEL_TALL", 10 ** 6)
    assert scrub_dataset(ds, policy, detector).boxes != [[]], "no tall line; this shows nothing"


def test_the_whole_pass_keeps_no_box_on_colour_flow(detector):
    """With the training normalisation DB marks US1's colour Doppler as text; the whole pass keeps
    a box over colour only where a look at its crop at [-1, 1] confirms it: none in the panes."""
    from scrubber.detect.looks import run_once

    frame = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    unguarded = run_once(detector, [frame], trained=True)[0]
    assert any(_in_panes(box) for box in unguarded), "DB marks no flow here; this test shows nothing"
    found = find_text(frame[None], None, Policy(device="cpu", reuse_layouts=False), detector)[0]
    assert not [d for d in found if _in_panes(d.box)], found


def test_large_type_over_tissue_is_read_in_the_smooth_rendering(detector, monkeypatch):
    """The recall sweep's "large" labels in mid grey over US1's panes: DB gives the 36 px "ID 4455"
    (thin strokes among speckle grains of their own width) no box in "full"; in "smooth" (the
    least channel, speckle smoothed away) it reads the line, in boxes that fit it. (Its exact grey,
    "level", reads it too, and the look at the lines of the least channel near the colour flow
    reads part of it: both left out here.)"""
    wanted = {"style": "grey", "font": "truetype", "jpeg": None}
    covered = _sweep_label_covered(detector, wanted, 36, group="large")
    assert covered() == 1.0
    monkeypatch.setattr(unread, "_lines_over_colour", lambda image, known, window=None: [])
    renderings = tuple(r for r in Policy().renderings if r not in ("smooth", "level"))
    assert covered(Policy(device="cpu", reuse_layouts=False, renderings=renderings)) < 0.5


def test_large_type_read_in_part_at_half_size_is_read_whole_close_up(detector, monkeypatch):
    """At half size DB reads only "4455" of that label (a pane's thin white frame crosses its
    "ID"); the closer look along the line (``closer_at_smooth``) reads it all, in a box within 5 px
    of the label's."""
    base = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    case = next(c for c in recall_sweep().cases(base)
                if c.group == "large" and c.condition == {"style": "grey", "font": "truetype", "jpeg": None})
    glyph = case.glyphs[case.heights.index(36)]
    x, y, mask = glyph
    label = (x, y, x + mask.shape[1], y + mask.shape[0])
    policy = Policy(device="cpu", reuse_layouts=False)

    def smooth_boxes() -> list:
        return [d.box for d in find_text(case.image[None], None, policy, detector)[0] if d.rendering == "smooth"]

    close = smooth_boxes()
    assert glyph_covered(close, base.shape[:2], glyph) == 1.0
    assert all(abs(a - b) <= 5 for box in close if overlaps(box, label) for a, b in zip(box, label)), (close, label)
    monkeypatch.setattr(single, "closer_at_smooth", lambda found, *args: list(found))
    assert glyph_covered(smooth_boxes(), base.shape[:2], glyph) < 0.9


def test_the_smooth_rendering_keeps_colour_flow_dark(detector):
    """Smoothed in luminance, US1's colour Doppler becomes blobs that DB at half size marks as a line
    of text beside the "large" labels; in the least channel ("smooth") the flow is dark and DB
    marks nothing in the panes but the labels, and on plain US1 the search keeps no "smooth" box."""
    base = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    case = next(c for c in recall_sweep().cases(base)
                if c.group == "large" and c.condition == {"style": "grey", "font": "truetype", "jpeg": None})
    labels = [(x, y, x + mask.shape[1], y + mask.shape[0]) for x, y, mask in case.glyphs]

    def beside(image: np.ndarray) -> list:
        return [box for box in detector([image], magnify=0.5)[0]
                if _in_panes(box) and not any(overlaps(box, label) for label in labels)]

    luminance = cv2.medianBlur(cv2.cvtColor(case.image, cv2.COLOR_RGB2GRAY), SMOOTH_WINDOW)
    assert beside(cv2.cvtColor(luminance, cv2.COLOR_GRAY2RGB))
    assert not beside(smooth(case.image))
    found = find_text(base[None], None, Policy(device="cpu", reuse_layouts=False), detector)[0]
    assert not [d for d in found if d.rendering == "smooth"]


@pytest.mark.parametrize("turn", ["up", "down"])
def test_a_label_running_up_or_down_the_image_is_read_turned(detector, turn):
    """The recall sweep's "vertical" labels, white on a black banner over US1's panes: DB reads
    lines along the rows and gives such a label no box, or pieces; the image turned a quarter
    shows its line along the rows, which the closer look reads (``turned_read``; the boxes the
    detector gives, before they are padded)."""
    wanted = {"style": "banner", "turn": turn, "font": "hershey-simplex", "jpeg": 85}
    covered = [_sweep_label_covered(detector, wanted, height, group="vertical") for height in (8, 12, 18)]
    assert min(share() for share in covered) >= 0.9
    renderings = tuple(r for r in Policy().renderings if r != "turned")
    assert min(share(Policy(device="cpu", reuse_layouts=False, renderings=renderings)) for share in covered) < 0.5


@pytest.mark.parametrize("style,turn", [("white", "down"), ("grey", "up")])
def test_a_vertical_label_over_tissue_is_found_by_its_light_pixels(detector, monkeypatch, style, turn):
    """The recall sweep's 12 px "vertical" labels in white and in mid grey over US1's panes: their
    strokes join the speckle's into shapes that are not lines, so the turned image's lines of
    strokes miss them; their light pixels (at least LIGHT, not coloured) form their lines, which
    the closer look at the turned image reads (``turned_read``; the boxes the detector gives,
    before they are padded)."""
    covered = _sweep_label_covered(detector, {"style": style, "turn": turn, "font": "truetype", "jpeg": None}, 12,
                                   group="vertical")
    assert covered() >= 0.9
    monkeypatch.setattr(unread, "LIGHT", 256)  # no pixel is light
    assert covered() < 0.5


def test_a_turned_look_s_box_at_the_side_of_its_crop_is_followed_along_the_line(detector, monkeypatch):
    """The recall sweep's 8 px grey label running up US1's right pane through JPEG q85: the look at
    the turned image reads it to the side of its crop, 9 px short of its end; that box is followed
    past the side (``follow``), and the look there reads the label to its end."""
    covered = _sweep_label_covered(detector, {"style": "grey", "turn": "up", "font": "hershey-simplex", "jpeg": 85},
                                   8, group="vertical")
    assert covered() >= 0.98
    monkeypatch.setattr(looks, "FOLLOW_ROUNDS", 0)
    assert covered() < 0.9


def test_a_vertical_label_crossed_by_flow_and_a_frame_is_read_whole_in_its_light_pixels(detector, monkeypatch):
    """The recall sweep's 18 px grey "MRN 455667" running down US1's right pane: colour flow and the
    pane's frame cross it, and the look at the turned image reads only its middle; the look at its
    light pixels, white on black without rules, reads it to both ends."""
    covered = _sweep_label_covered(detector, {"style": "grey", "turn": "down", "font": "truetype", "jpeg": None},
                                   18, group="vertical")
    assert covered() >= 0.98
    monkeypatch.setattr(unread, "light_shown", lambda light: np.zeros((*light.shape, 3), np.uint8))
    monkeypatch.setattr(unread, "neutral", lambda image: image)  # its "neutral" look reads most of it too
    assert covered() < 0.9


def test_a_vertical_label_over_colour_flow_is_read_in_the_neutral_rendering(detector, monkeypatch):
    """The recall sweep's 12 px grey "SMITH^JOHN" running up US1's left pane, through JPEG q85: its
    "SMITH" lies over yellow flow, as bright as the type, and the looks at the turned image and at
    its light pixels read "JOHN" only. In the turned "neutral" rendering (the least channel: the flow
    dark, grey type grey) the look along the line reads it to its end."""
    covered = _sweep_label_covered(detector, {"style": "grey", "turn": "up", "font": "hershey-simplex", "jpeg": 85},
                                   12, group="vertical")
    assert covered() >= 0.98
    monkeypatch.setattr(unread, "neutral", lambda image: image)  # the same look, at the turned image itself
    assert covered() < 0.9


def test_the_bright_anatomy_of_a_radiograph_is_not_read_as_a_vertical_label(detector, monkeypatch):
    """A lossy radiograph (RG1_J2KI: smooth bright bone and soft tissue, no text): its light pixels
    alone form vertical lines whose blobs DB reads as text; only light pixels at a sharp stroke
    count, which text has and smooth anatomy has not, so ``turned_read`` finds nothing."""
    from scrubber.pixels import render
    from scrubber.pixels.decode import decode

    policy = Policy(device="cpu", reuse_layouts=False)
    ds = dcmread(data_path("RG1_J2KI.dcm"))
    image = np.ascontiguousarray(render.for_detection(decode(ds, 1 << 30), ds)[0])
    assert not unread.turned_read(image, [], policy, detector)
    monkeypatch.setattr(unread, "MIN_CONTRAST", 0)  # every light pixel counts
    assert unread.turned_read(image, [], policy, detector)


def test_a_box_turned_and_back_is_itself():
    shape = (480, 640, 3)
    for box in [(0, 0, 640, 480), (10, 20, 30, 200), (600, 5, 640, 9)]:
        turned = unread._turn(box, shape)
        assert unread._unturn(turned, shape) == box
        image = np.zeros(shape[:2], np.uint8)
        image[box[1]:box[3], box[0]:box[2]] = 1
        x0, y0, x1, y1 = turned
        assert np.rot90(image, -1)[y0:y1, x0:x1].all() and np.rot90(image, -1).sum() == (x1 - x0) * (y1 - y0)


def test_rules_are_taken_out_of_strokes_so_that_text_crossing_them_is_a_line():
    """A word crossed by a pane's frame (a rule longer than any glyph) joins it into one shape too
    tall for a line; without the rule, the word is a line of text's shape again."""
    mask = np.zeros((200, 300), np.uint8)
    cv2.putText(mask, "DOE JANE", (40, 100), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 1, 2)
    mask[20:190, 120] = 1
    mask[60, 10:290] = 1
    word = (40, 80, 160, 102)
    assert not any(proposer.text_shaped(b) and overlaps(b, word) for b in proposer.lines_of(mask))
    lines = [b for b in proposer.lines_of(proposer.unruled(mask)) if proposer.text_shaped(b)]
    assert any(b[0] <= 42 and b[2] >= 150 and overlaps(b, word) for b in lines), lines


@pytest.mark.parametrize("degrees", [3, 4, 5])
def test_rules_of_a_turned_page_are_taken_out_as_staircases_of_shorter_runs(degrees):
    """A scanned page turned a few degrees: its rules run straight along 34-57 px of a row or
    column, so the straight opening of RULE keeps them, and a word beside a turned frame joins it.
    Chained runs of RULE_PIECE take them out, joints and ends included; the word's strokes stay."""
    mask = np.zeros((300, 400), np.uint8)
    cv2.putText(mask, "DOE JANE", (60, 150), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1, 1)
    word = mask.copy()
    slope = np.tan(np.radians(degrees))
    # the cell's left and top rules, turned
    cv2.line(mask, (54 - round(125 * slope), 20), (54 + round(135 * slope), 280), 1, 2, cv2.LINE_AA)
    cv2.line(mask, (20, 120), (380, 120 + round(360 * slope)), 1, 2, cv2.LINE_AA)
    mask = (mask > 0).astype(np.uint8)
    plain = proposer.unruled(mask)
    assert (plain & word).sum() >= 0.95 * word.sum()
    assert (plain & ~word).sum() < 0.1 * (mask & ~word).sum()  # a few pixels at the rules' ends
    box = cv2.boundingRect(word)
    box = (box[0], box[1], box[0] + box[2], box[1] + box[3])
    assert any(proposer.text_shaped(b) and overlaps(b, box) for b in proposer.lines_of(plain))
    old = mask & ~(cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, proposer.RULE), np.uint8))
                   | cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((proposer.RULE, 1), np.uint8)))
    assert not any(proposer.text_shaped(b) and overlaps(b, box) for b in proposer.lines_of(old))


def _us1_with_a_faint_label(ground: int, ink: int) -> np.ndarray:
    """The real US1 frame with a name a few grey levels off its ground (a banner of grey
    ``ground``, or black) below the image, through JPEG as a scanner or a video grabber leaves it."""
    frame = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    cv2.rectangle(frame, (370, 392), (630, 418), (ground,) * 3, -1)
    cv2.putText(frame, "DOE JANE 1960", (380, 410), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (ink,) * 3, 1)
    return cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], cv2.IMREAD_UNCHANGED)


NAME = (380, 398, 503, 412)


def _in_panes(box: tuple[int, int, int, int]) -> bool:
    """Inside US1's two image panes (tissue and colour Doppler)."""
    return box[0] >= 90 and box[2] <= 545 and box[1] >= 150 and box[3] <= 295


def test_lines_on_flat_ground_are_kept_and_lines_in_tissue_are_not():
    """An extra rendering is looked at again where text can stand out against a banner or the
    black surround; lines of strokes in tissue (speckle, vessel walls) are left to the full pass."""
    enhanced = enhance(_us1_with_a_faint_label(0, 15))
    every, flat = text_lines(enhanced), text_lines(enhanced, on_flat=True)
    in_tissue = sum(map(_in_panes, every))
    assert in_tissue >= 5
    assert sum(map(_in_panes, flat)) <= in_tissue // 5
    assert not any(x0 <= NAME[0] + 4 and x1 >= NAME[2] - 4 for x0, y0, x1, y1 in every if y0 > 390)  # too faint ...
    assert any(x0 <= NAME[0] + 4 and x1 >= NAME[2] - 4 and 390 <= y0 and y1 <= 418  # ... for sharp strokes only
               for x0, y0, x1, y1 in flat), "the faint label is not a line to look at"


@pytest.mark.parametrize("ground,ink", [(0, 12), (0, 15), (90, 105), (60, 75)])
def test_a_label_a_few_grey_levels_off_its_ground_is_found(detector, ground, ink):
    frame = _us1_with_a_faint_label(ground, ink)
    assert not [b for b in detector([frame])[0] if b[1] > 385 and b[3] < 425]  # "full" alone misses it
    run, shapes = _counting(detector)
    found = find_text(frame[None], None, Policy(device="cpu", reuse_layouts=False), run)[0]
    assert any(d.box[0] <= NAME[0] + 4 and d.box[2] >= NAME[2] - 4 and d.box[1] <= NAME[1] + 2
               and d.box[3] >= NAME[3] - 2 for d in found), "the name was not found"
    assert shapes.count(frame.shape) == 4  # "full", "local", "ink" and "smooth" whole; "enhanced" only
    # as crops


def test_a_mark_repeated_down_the_image_gets_one_closer_look(detector):
    """Identical lone characters at several places (a marker repeated along a scale) are one
    crop to the closer look; each place gets what that look found."""
    image = np.zeros((480, 640, 3), np.uint8)
    places = [(40, 100), (40, 240), (40, 380)]
    for x, y in places:
        cv2.putText(image, "Y", (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (220, 220, 220), 1)
    crops: list[tuple[int, ...]] = []
    marks = Counted(detector.marks, lambda images: crops.extend(image.shape for image in images))
    run, _ = _counting(detector)
    run.marks = marks
    found = find_text(image[None], None, Policy(device="cpu", reuse_layouts=False), run)[0]
    assert len(crops) == 1
    for x, y in places:
        assert any(d.box[0] <= x + 2 and d.box[2] >= x + 8 and d.box[1] <= y - 8 and d.box[3] >= y
                   for d in found if d.detector.endswith("-zoom")), f"the Y at {x},{y} was not found"


@pytest.mark.parametrize("scale,largest", [(0.4, 3.0), (0.9, 1.6)])
def test_a_lone_letter_is_magnified_for_its_closer_look_as_its_height_needs(detector, scale, largest):
    """A small letter is looked at 3x, a large one less (the look costs the square of the zoom),
    and both are found."""
    image = np.zeros((480, 640, 3), np.uint8)
    cv2.putText(image, "Y", (300, 250), cv2.FONT_HERSHEY_SIMPLEX, scale, (220, 220, 220), 1)
    crops: list[tuple[int, ...]] = []
    run, _ = _counting(detector)
    run.marks = Counted(detector.marks, lambda images: crops.extend(image.shape for image in images))
    found = find_text(image[None], None, Policy(device="cpu", reuse_layouts=False), run)[0]
    letter = cv2.boundingRect(cv2.findNonZero(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)))
    x, y, w, h = letter
    assert any(d.box[0] <= x + 1 and d.box[2] >= x + w - 1 and d.box[1] <= y + 1 and d.box[3] >= y + h - 1
               for d in found if d.detector.endswith("-zoom")), (letter, found)
    assert len(crops) == 1
    crop_side = 3 * h  # the letter and a margin of its height above and below
    assert crops[0][0] <= buckets.bucket(round(crop_side * largest) + 1)


def test_grains_of_a_radiograph_are_not_lines_on_flat_ground():
    """Smooth anatomy is flat within a few grey levels too; after local contrast its grains form
    a thousand "lines" that barely rise above it (a look at the whole rendering found a box in
    this text-free CR before)."""
    stored = dcmread(data_path("RG1_UNCI.dcm")).pixel_array.astype(np.float32)
    grey = 255 - cv2.normalize(stored, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)  # MONOCHROME1
    enhanced = enhance(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB))
    every, flat = text_lines(enhanced), text_lines(enhanced, on_flat=True)
    assert len(every) > 1000
    assert len(flat) < 0.15 * len(every)


@pytest.mark.parametrize("ground,ink", [(100, 125), (100, 75), (170, 145), (235, 210)])
def test_a_label_25_levels_off_a_grey_banner_is_found_in_the_local_rendering(detector, ground, ink):
    """DB gives such a label no probability at all in "full", and CLAHE lifts it little where its
    tile also holds black; "local" (each pixel against its surroundings) shows it."""
    frame, (x0, y0, x1, y1) = us1_with_a_banner(ground, ink)
    assert not [b for b in detector([frame])[0] if b[1] < y1 and b[3] > y0 and b[0] < x1 and b[2] > x0]
    found = find_text(frame[None], None, Policy(device="cpu", reuse_layouts=False), detector)[0]
    assert any(d.rendering == "local" and d.box[0] <= x0 and d.box[2] >= x1 and d.box[1] <= y0 and d.box[3] >= y1
               for d in found), found


def test_shapes_that_local_contrast_turns_into_outlines_are_not_text(detector):
    """"local" turns three filled discs (a window's buttons) into rings that DB reads as "ooo";
    they stand out in the original far more than a faint label, so the box is dropped."""
    from scrubber.detect.renderings import faint_in, localise

    image = np.full((480, 640, 3), 40, np.uint8)
    image[:40] = (36, 64, 140)
    for x, colour in ((560, (80, 190, 90)), (585, (240, 190, 60)), (610, (230, 80, 70))):
        cv2.circle(image, (x, 20), 7, colour, -1)
    rings = [b for b in detector([localise(image)])[0] if b[3] <= 45 and b[0] >= 540]
    assert rings, "the discs no longer look like text in the local rendering; this test shows nothing"
    assert not any(faint_in(image, box) for box in rings)
    found = find_text(image[None], None, Policy(device="cpu", reuse_layouts=False), detector)[0]
    assert not [d for d in found if d.box[3] <= 45 and d.box[0] >= 540], found


def test_a_label_box_that_reaches_its_banners_edge_is_still_faint():
    from scrubber.detect.renderings import faint_in

    frame, (x0, y0, x1, y1) = us1_with_a_banner(100, 125)
    assert faint_in(frame, (x0 - 8, y0 - 8, x1 + 8, y1 + 8))  # the banner and the black around it
    assert not faint_in(frame, (245, 355, 365, 380))  # "LYMPH NODE", white on black


def test_local_contrast_in_anatomy_and_tissue_blanks_nothing(detector):
    """After local contrast, DB marks edges and spots of a text-free CT (squarish boxes) and dark
    speckle of JPEG-compressed tissue (wide boxes on ground that is not flat); none is kept."""
    from scrubber.detect.renderings import localise
    from scrubber.pixels import render
    from scrubber.pixels.decode import decode

    policy = Policy(device="cpu", reuse_layouts=False)
    ds = dcmread(data_path("693_UNCI.dcm"))
    ct = np.ascontiguousarray(render.for_detection(decode(ds, 1 << 30), ds)[0])
    us = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    us = cv2.imdecode(cv2.imencode(".jpg", us, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], cv2.IMREAD_UNCHANGED)
    for image in (ct, us):
        assert detector([localise(image)])[0], "local contrast shows DB nothing here; this test shows nothing"
        found = find_text(image[None], None, policy, detector)[0]
        assert not [d for d in found if d.rendering == "local"], found


def _text_over(frame: np.ndarray, text: str, scale: float, at: tuple[int, int], colour: tuple[int, int, int],
               font: int) -> tuple[np.ndarray, np.ndarray]:
    """``frame`` with ``text`` drawn anti-aliased over it in ``colour``; and the mask of its ink."""
    ink = np.zeros(frame.shape[:2], np.uint8)
    cv2.putText(ink, text, at, font, scale, 255, 1, cv2.LINE_AA)
    alpha = ink[..., None].astype(np.float32) / 255
    frame = np.rint(frame * (1 - alpha) + np.asarray(colour, np.float32) * alpha).astype(np.uint8)
    return frame, ink >= 128


def _us1_with_text_over_tissue(text: str, scale: float, at: tuple[int, int],
                               colour: tuple[int, int, int] = (255, 255, 255)) -> tuple[np.ndarray, np.ndarray]:
    """The real US1 frame with ``text`` drawn anti-aliased over its tissue and colour Doppler (a
    label or measurement written onto the image); and the mask of its ink."""
    frame = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    return _text_over(frame, text, scale, at, colour, cv2.FONT_HERSHEY_DUPLEX)


def _covered_share(mask: np.ndarray, boxes) -> float:
    blanked = np.zeros(mask.shape, bool)
    for x0, y0, x1, y1 in boxes:
        blanked[y0:y1, x0:x1] = True
    return float(blanked[mask].mean())


@pytest.mark.parametrize("text,at,colour,rendering", [
    ("SMITH JOHN", (105, 184), (255, 255, 255), "full"),  # over tissue and colour flow
    ("DOB 1971-04-09", (110, 200), (255, 255, 0), "full"),  # yellow, over colour flow
    ("SMITH JOHN", (330, 240), (255, 255, 255), "neutral"),  # white, mostly over yellow flow
])
def test_8px_text_over_tissue_is_found_by_a_closer_look_at_its_line(detector, text, at, colour, rendering):
    """DB at 1x gives 8 px type over tissue no box; its line of strokes, three times as wide as
    high, is looked at magnified (to about 40 px, here 3x), where DB reads it; where white text
    crosses yellow colour flow (barely darker in luminance), in the "neutral" rendering."""
    frame, ink = _us1_with_text_over_tissue(text, 0.38, at, colour)
    assert _covered_share(ink, detector([frame])[0]) < 0.5, "DB at 1x finds it; this test shows nothing"
    found = find_text(frame[None], None, Policy(device="cpu", reuse_layouts=False), detector)[0]
    assert _covered_share(ink, [d.box for d in found]) >= 0.98, found
    rechecked = [d.box for d in found if d.detector == f"{detector.name}-recheck" and d.rendering == rendering]
    assert _covered_share(ink, rechecked) > 0.25


@pytest.mark.parametrize("quality", [None, 85])
def test_few_lines_of_speckle_are_looked_at_again_and_none_is_blanked(detector, quality):
    """Speckle and colour flow in the panes of US1 form lines of strokes, but seldom three times
    as wide as high; DB, looking closer at those that are, finds no text in them."""
    from scrubber.detect.unread import _unread_lines

    frame = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    if quality:
        frame = cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1],
                             cv2.IMREAD_UNCHANGED)
    found = find_text(frame[None], None, Policy(device="cpu", reuse_layouts=False), detector)[0]
    in_tissue = [b for b in text_lines(frame) if _in_panes(b)]
    assert len(in_tissue) >= 10
    assert len([b for b in _unread_lines(frame, [d.box for d in found]) if _in_panes(b)]) <= len(in_tissue) // 5
    assert not [d for d in found if _in_panes(d.box)], found


def test_pieces_of_one_line_are_joined_and_lines_of_other_rows_or_far_apart_are_not():
    """Two pieces of a label's line of strokes, broken where it crosses flow (the recall sweep's 18
    px "ACC 99887766" over US1: 101-188 and 225-280, rows 174-197 and 174-189), are one line;
    a line on the row below, or one on the same row more than JOIN_GAP heights away, is not."""
    assert unread.joined([(225, 174, 280, 189), (101, 174, 188, 197)]) == [(101, 174, 280, 197)]
    below = (101, 200, 188, 215)
    far = (188 + unread.JOIN_GAP * 23 + 1, 174, 400, 197)
    assert sorted(unread.joined([(101, 174, 188, 197), below, far])) == sorted([(101, 174, 188, 197), below, far])
    assert unread.joined([(0, 0, 30, 10), (40, 0, 70, 10), (80, 0, 110, 10)]) == [(0, 0, 110, 10)]


def _us1_bright_with(text: str, at: tuple[int, int], grey: int, scale: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """The real US1 frame with its gain turned up as the recall sweep's "bright" group does (its
    tissue becomes bright speckle) and ``text`` drawn over it in ``grey``; and the mask of its ink."""
    frame = recall_sweep().brightened(np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array))
    return _text_over(frame, text, scale, at, (grey, grey, grey), cv2.FONT_HERSHEY_SIMPLEX)


@pytest.mark.parametrize("text,at,grey", [("ST ELSEWHERE", (330, 250), 25), ("ID 0012345678", (100, 185), 0)])
def test_dark_type_over_bright_speckle_is_found_in_the_ink_rendering(detector, text, at, grey):
    """Dark type over bright tissue, plain to read, gets no box from DB in the full rendering (the
    speckle's strokes drown the type's) nor from the renderings for faint or near-black text; the
    "ink" rendering (the darkest quarter stretched and inverted) flattens the speckle to black and
    DB reads the type there, whole."""
    from scrubber.detect.renderings import ink

    frame, mask = _us1_bright_with(text, at, grey)
    assert _covered_share(mask, detector([frame])[0]) < 0.5, "DB reads it in full; this test shows nothing"
    without = Policy(device="cpu", reuse_layouts=False, renderings=("full", "window", "enhanced", "local", "dark"))
    assert _covered_share(mask, [d.box for d in find_text(frame[None], None, without, detector)[0]]) < 0.98
    found = find_text(frame[None], None, Policy(device="cpu", reuse_layouts=False), detector)[0]
    assert _covered_share(mask, [d.box for d in found]) >= 0.98, found
    assert _covered_share(mask, [d.box for d in found if d.rendering == "ink"]) > 0.5
    ys, xs = np.nonzero(mask)
    box = np.s_[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    shown = ink(frame)[box]
    assert shown[mask[box]].mean() > shown[~mask[box]].mean() + 80  # light type, dark ground


def test_ink_is_read_only_where_dark_pixels_next_to_bright_ground_form_unread_lines():
    """The gate of the "ink" pass: dark type over bright speckle forms such a line; the same type
    inside a box the full rendering gave, or a page of dark type on white that "full" read, none."""
    from scrubber.detect.proposer import dark_on_bright
    from scrubber.detect.renderings import ink

    frame, mask = _us1_bright_with("ST ELSEWHERE", (330, 250), 25)
    ys, xs = np.nonzero(mask)
    label = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    assert looks.share_covered(label, dark_on_bright(ink(frame))) > 0.9
    assert looks.share_covered(label, dark_on_bright(ink(frame), [label])) < 0.5
    page = np.full((200, 400, 3), 255, np.uint8)
    cv2.putText(page, "PATIENT JOHN SMITH", (10, 100), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
    assert dark_on_bright(ink(page)) and not dark_on_bright(ink(page), [(5, 75, 320, 110)])


def test_ink_keeps_only_lines_on_bright_ground():
    """A box from "ink" over a bright trace on black (a waveform turned around, dark on white
    there) is not dark type over a bright ground; one over speckle with dark type is; and a box
    the full rendering already covers, or a squarish one, adds nothing."""
    trace = np.zeros((60, 200, 3), np.uint8)
    cv2.polylines(trace, [np.array([[10, 40], [60, 10], [110, 45], [190, 20]])], False, (200, 200, 200), 2)
    assert not single.kept_box("ink", trace, [], (5, 5, 195, 50))
    frame, _ = _us1_bright_with("ST ELSEWHERE", (330, 250), 25)
    line = (325, 234, 470, 256)
    assert single.kept_box("ink", frame, [], line)
    assert not single.kept_box("ink", frame, [line], line)
    assert not single.kept_box("ink", frame, [], (325, 234, 355, 256))


def test_dark_type_new_in_a_later_image_of_a_layout_is_read_in_the_ink_rendering(detector, monkeypatch):
    """A series: the first image (bright tissue, no label) is read whole; the next image of the
    layout differs from it by a dark label over the tissue, which no crop of "full" reads; the
    "ink" rendering, read whole there, finds it, as it would in that image alone. An image the
    same as the first reads no "ink" at all."""
    from scrubber.detect.layouts import Reference

    policy = Policy(device="cpu")
    first, _ = _us1_bright_with("", (330, 250), 25)
    reference = Reference(first, tuple(find_text(first[None], None, policy, detector)[0]))
    later, mask = _us1_bright_with("ST ELSEWHERE", (330, 250), 25)
    found = find_text(later[None], None, policy, detector, reference=reference)[0]
    assert _covered_share(mask, [d.box for d in found]) >= 0.98, found
    assert _covered_share(mask, [d.box for d in found if d.rendering == "ink"]) > 0.5
    with monkeypatch.context() as patched:
        patched.setattr(series, "ink_read", lambda *args: [])
        unread = find_text(later[None], None, policy, detector, reference=reference)[0]
        assert _covered_share(mask, [d.box for d in unread]) < 0.98, "crops of full read it; this shows nothing"
    run, shapes = _counting(detector)
    again = find_text(first[None], None, policy, run, reference=reference)[0]
    assert first.shape not in shapes
    assert not [d for d in again if d.rendering == "ink" and d.detector != series.CARRIED]


def test_the_edges_of_a_cardiac_sector_s_walls_do_not_have_ink_read():
    """color3d's frames: the edges of the heart's walls form lines of dark pixels next to bright
    ones, but on dark ground; outside the static text (which a layout's carried boxes cover),
    no frame gives a line that is worth reading "ink" for."""
    from scrubber.detect.renderings import ink

    frames = dcmread(data_path("color3d_jpeg_baseline.dcm")).pixel_array
    inside = [(0, 60, 640, 440)]  # the sector's rows, below the toolbar and above the bottom bar
    walls = 0
    for frame in frames[::6]:
        frame = np.ascontiguousarray(frame)
        shown = ink(frame)
        walls += sum(looks.is_covered(line, inside) for line in proposer.dark_on_bright(shown))
        assert not [line for line in single._ink_lines(frame, shown, []) if looks.is_covered(line, inside)]
    assert walls >= 3, "no wall edge forms a line; this test shows nothing"


SHORT_PITCH = 3  # cap heights between the lines of short print below a form's table


def _page(font: str, size: int, ink: str, skew: float, jpeg: int | None):
    """The recall sweep's scanned form of these conditions as it was before its lines below the
    table became running text: ten short labels, four of them below the table SHORT_PITCH cap
    heights apart, each alone on its line (its "page" case, and the same texts and paper)."""
    sweep = recall_sweep()
    number = list(itertools.product(sweep.FONTS, sweep.PAGE_SIZES, sweep.PAGE_INKS, sweep.PAGE_SKEWS,
                                    sweep.PAGE_JPEG)).index((font, size, ink, skew, jpeg))
    texts = itertools.islice(itertools.cycle(sweep.TEXTS + sweep.PAGE_TEXTS), 10 * number, None)
    labs = [sweep.label(next(texts), font, size) for _ in range(10)]
    signature = sweep.label(sweep.SIGNATURES[number % 2], "hershey-script", 2 * size)
    image, glyphs = sweep._page(np.random.default_rng(number), labs, signature, sweep.PAGE_INKS[ink], skew,
                                SHORT_PITCH)
    return sweep.Case("page", {"font": font, "size": size, "ink": ink, "skew": skew, "jpeg": jpeg},
                      sweep._jpeg(image, jpeg), glyphs, [*(lab.height for lab in labs), signature.height])


def test_small_print_on_a_page_forms_lines_on_flat_ground_that_otsu_leaves_out():
    """On a scanned form, the table's rules and the signature set the Otsu threshold of strokes far
    above 5 px faded print; strokes of MIN_CONTRAST on flat paper, rules taken out, form its lines,
    the print in the table's cells included; speckle in US1's panes is not flat and forms none."""
    case = _page(font="hershey-simplex", size=5, ink="faded", skew=0, jpeg=None)
    lines = proposer.flat_lines(case.image)
    for x, y, mask in case.glyphs:
        h, w = mask.shape
        assert any(a0 <= x and y <= b1 and a1 >= x + w and b0 <= y + h for a0, b0, a1, b1 in lines), (x, y)
    assert len(text_lines(case.image)) < 3  # the signature only: the print is below Otsu
    frame = np.ascontiguousarray(dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    assert not [b for b in proposer.flat_lines(frame) if _in_panes(b)]


def test_small_print_in_the_table_of_a_turned_page_forms_flat_lines():
    """The sweep's form turned 4 degrees in the scanner: 5 px faded print in the table's cells sits
    10 px from a turned rule, which ``unruled`` takes out; each label still lies in a flat line,
    and no line runs along a rule."""
    case = _page(font="hershey-simplex", size=5, ink="faded", skew=4, jpeg=None)
    lines = proposer.flat_lines(case.image)
    for x, y, mask in case.glyphs[:10]:
        h, w = mask.shape
        assert any(a0 <= x + w // 2 <= a1 and b0 <= y + h // 2 <= b1 for a0, b0, a1, b1 in lines), (x, y)
    assert all(b[3] - b[1] <= 20 for b in lines), lines


def test_a_mask_without_a_run_of_a_rule_piece_is_not_searched_for_rules(monkeypatch):
    """Strokes with no run of RULE_PIECE along a row or a column (speckle, most masks of a later
    image) hold no rule: ``unruled`` gives them back whole without labelling them or opening them
    by a rule's length; a run of RULE along a row is still taken out."""
    rng = np.random.default_rng(11)
    mask = np.zeros((480, 640), np.uint8)
    mask[20:-20, 20:-20] = rng.random((440, 600)) < 0.3  # (OpenCV's erosion counts the border as strokes)
    mask[100, 50:50 + proposer.RULE_PIECE - 1] = 1
    mask[200:200 + proposer.RULE_PIECE - 1, 300] = 1
    assert cv2.countNonZero(cv2.erode(mask, np.ones((1, proposer.RULE_PIECE), np.uint8))) == 0
    labelled, opened = [], []
    monkeypatch.setattr(proposer, "components_with_stats", lambda *args: labelled.append(args))
    monkeypatch.setattr(proposer.cv2, "morphologyEx", lambda *args, **kwargs: opened.append(args))
    assert np.array_equal(proposer.unruled(mask), mask)
    assert np.array_equal(proposer.unruled(mask, (rng.random(mask.shape) * 255).astype(np.uint8)), mask)
    assert labelled == [] and opened == []
    monkeypatch.undo()
    mask[300, 100:100 + proposer.RULE] = 1
    assert not proposer.unruled(mask)[300, 100 + proposer.RULE_PIECE:100 + proposer.RULE - proposer.RULE_PIECE].any()


def test_long_lines_of_small_print_are_not_taken_for_rules():
    """Four lines of 5 px faded print 210-220 px long below a straight form's table: their strokes'
    gradients join into one band, which runs straight along far more than RULE pixels of a row.
    The band is as thick as a line of print and its grey changes along it (letters), so it stays a
    line; the table's rules, thin and smooth, are still taken out."""
    sweep = recall_sweep()
    long = ["PATIENT JOHN SMITH DOB 03/11/1960 MRN 4455667 SEEN AT SPRINGFIELD GENERAL",
            "REFERRED BY DR A WHO 12 HIGH ST SPRINGFIELD TEL 555-0142 NHS 943 476 5919",
            "ADDRESS 221B BAKER STREET LONDON NW1 6XE NEXT OF KIN JANE SMITH 555-0199",
            "REPORTED 05/12/2026 BY DR B JONES CONSULTANT RADIOLOGIST ST ELSEWHERE"]
    labs = [sweep.label(text, "hershey-simplex", 5) for text in [*sweep.PAGE_TEXTS, "J SMITH", "A WHO", *long]]
    image, glyphs = sweep._page(np.random.default_rng(500), labs, sweep.label("J Smith", "hershey-script", 10),
                                sweep.PAGE_INKS["faded"], 0, SHORT_PITCH)
    lines = proposer.flat_lines(image)
    for x, y, mask in glyphs[6:10]:
        h, w = mask.shape
        assert w > 2 * proposer.RULE
        assert any(a0 <= x + 5 and a1 >= x + w - 5 and b0 <= y + h // 2 <= b1 for a0, b0, a1, b1 in lines), (x, y)
    assert all(b[3] - b[1] <= 20 for b in lines), lines
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    mask = (proposer.gradient(grey) >= proposer.MIN_CONTRAST).astype(np.uint8)
    below = [b for b in proposer.lines_of(proposer.unruled(mask)) if glyphs[6][1] - 5 <= b[1] <= glyphs[9][1] + 5]
    assert not below, "without the image, each band is a rule"


def test_small_print_on_a_page_through_jpeg_is_read_by_closer_looks_at_its_flat_lines(detector, monkeypatch):
    """5 px black print in a form's table cells, through a scanner's JPEG: DB reads parts of it
    in the whole image and in "enhanced"; its flat lines, looked at closer (again with the training
    normalisation where [-1, 1] reads nothing), read every label whole. So do, without them, the
    closer looks at lines of strokes on any ground once the table's rules are taken out (``unruled``).
    Without those looks and the ones at lines of faint strokes (``faint_lines``), some are not."""
    case = _page(font="hershey-simplex", size=5, ink="black", skew=0, jpeg=50)
    policy = Policy(device="cpu", reuse_layouts=False)

    def shares() -> list[float]:
        found = find_text(case.image[None], None, policy, detector)[0]
        return [glyph_covered([d.box for d in found], case.image.shape[:2], glyph) for glyph in case.glyphs]

    assert min(shares()) >= 0.98
    monkeypatch.setattr(unread, "flat_lines", lambda image, wanted=None: [])
    monkeypatch.setattr(unread, "faint_lines", lambda image, standout=0.0, wanted=None: [])
    monkeypatch.setattr(unread, "unruled", lambda mask, grey=None: mask)
    assert min(shares()) < 0.9
