"""Series: a second image of a layout seen before is compared with the first and looked at again
only where it differs, and still loses every text (real detector, real file)."""
from __future__ import annotations

import copy
from collections.abc import Callable

import cv2
import numpy as np
import pydicom
import pytest

from scrubber.detect import find, series
from scrubber.detect.layouts import LayoutMemory, memory
from scrubber.evaluate import residual_fraction
from scrubber.pipeline import scrub_dataset
from scrubber.pixels.decode import decode
from scrubber.policy import Policy

from .util import Counted, data_path, us1_with_a_banner


def _counting(detector, calls):
    return Counted(detector, lambda images: calls.extend(image.shape[:2] for image in images))


@pytest.fixture()
def fresh_memory(monkeypatch):
    import scrubber.detect.layouts as layouts

    monkeypatch.setattr(layouts, "_memory", LayoutMemory())
    return layouts.memory()


def _with_new_text(ds: pydicom.Dataset) -> tuple[pydicom.Dataset, list[list[int]]]:
    """A copy of ``ds`` with other text where the first had none (a longer name, a new label)."""
    out = copy.deepcopy(ds)
    pixels = out.pixel_array.copy()
    boxes = []
    for text, org in (("SMITH^JOHN^ALEXANDER", (300, 60)), ("RT KIDNEY 2", (40, 440))):
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        pixels[org[1] - h - 2:org[1] + base + 1, org[0] - 1:org[0] + w + 1] = 0
        cv2.putText(pixels, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        boxes.append([org[0], org[1] - h - 1, org[0] + w + 1, org[1] + base])
    out.PixelData = pixels.tobytes()
    return out, boxes


def test_second_image_of_a_layout_reuses_the_first(fresh_memory, detector):
    first = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    second, new_boxes = _with_new_text(first)
    policy = Policy(device="cpu")
    full_calls: list = []
    scrub_dataset(first, policy, _counting(detector, full_calls))
    assert len(fresh_memory._items) == 1
    calls: list = []
    result = scrub_dataset(second, policy, _counting(detector, calls))
    assert f"{detector.name}-layout" in result.detectors and "layout-reference" in result.detectors
    assert not any(shape == (480, 640) for shape in calls), "no whole-frame OCR pass"
    assert sum(h * w for h, w in calls) < sum(h * w for h, w in full_calls) / 2, (calls, full_calls)
    before = cv2.cvtColor(second.pixel_array, cv2.COLOR_RGB2GRAY)
    after = cv2.cvtColor(decode(result.dataset, 1 << 30).stored[0], cv2.COLOR_RGB2GRAY)
    for box in new_boxes:
        assert residual_fraction(before, after, box) <= 0.02, f"new text at {box} still legible"
    unchanged = scrub_dataset(first, policy, detector)
    again = scrub_dataset(first, policy.replace(reuse_layouts=False), detector)
    assert unchanged.dataset.PixelData == again.dataset.PixelData, "the same image gives the same result"


def test_reuse_can_be_turned_off(fresh_memory, detector):
    ds = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    scrub_dataset(ds, Policy(device="cpu", reuse_layouts=False), detector)
    assert len(fresh_memory._items) == 0


def test_memory_keeps_a_bounded_number_of_layouts():
    from scrubber.detect.layouts import Reference

    small = LayoutMemory(capacity=2)
    for key in range(3):
        small.put((key,), Reference(np.zeros((2, 2, 3), np.uint8), ()))
    assert small.get((0,)) is None and small.get((2,)) is not None
    assert memory() is not None


@pytest.mark.parametrize("first, second", [("us_textfree.dcm", "us_single.dcm"), ("us_single.dcm", "us_textfree.dcm")])
def test_either_order_of_one_layout_gives_full_recall(fresh_memory, detector, first, second):
    """A text-free reference must not hide faint text in the next image, and a reference full of
    text must not blank a text-free one."""
    import json

    from scrubber.evaluate import score_file

    from .util import SAMPLE, TRUTH

    truth = json.loads(TRUTH.read_text())["files"]
    policy = Policy(device="cpu")
    scrub_dataset(pydicom.dcmread(SAMPLE / first), policy, detector)
    ds = pydicom.dcmread(SAMPLE / second)
    result = scrub_dataset(ds, policy, detector)
    assert detector.name not in result.detectors, "the second image was compared, not searched whole"
    score = score_file(ds, result.dataset, truth[second])
    if truth[second]["text_free"]:
        assert score.unchanged
    else:
        assert score.removed == score.boxes, [(m.index, m.style) for m in score.missed]


@pytest.mark.parametrize("name", ["gdcm-US-ALOKA-16.dcm", "US1_UNCR.dcm"])
def test_an_image_seen_again_gives_what_it_gave_first(fresh_memory, detector, name):
    """The same image as the second of its layout: every box, also those only an extra rendering
    found (ALOKA's grey header lines, which a re-look at a crop of their own does not find again),
    carries over, and the output is the same bytes."""
    policy = Policy(device="cpu")
    first = scrub_dataset(pydicom.dcmread(data_path(name)), policy, detector)
    again = scrub_dataset(pydicom.dcmread(data_path(name)), policy, detector)
    assert detector.name not in again.detectors, "the second time was compared, not searched whole"
    assert sorted(again.boxes[0]) == sorted(first.boxes[0])
    assert again.dataset.PixelData == first.dataset.PixelData


def _color3d_frame_as_rgb(index: int, label: str | None = None) -> pydicom.Dataset:
    """Frame ``index`` of color3d as a single-frame RGB image (Explicit VR LE), calibration kept;
    ``label`` burned in white inside the calibrated image region."""
    from pydicom.pixels import convert_color_space
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    clip = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    rgb = np.ascontiguousarray(convert_color_space(clip.pixel_array[index], clip.PhotometricInterpretation, "RGB"))
    if label:
        cv2.putText(rgb, label, (250, 250), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    ds = copy.deepcopy(clip)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PhotometricInterpretation, ds.PlanarConfiguration, ds.NumberOfFrames = "RGB", 0, 1
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PixelData = rgb.tobytes()
    return ds


def test_a_label_new_in_the_calibrated_region_of_a_later_image_is_found(fresh_memory, detector):
    """In a series the calibrated image region changes from image to image and is looked at as one
    area: a label burned into it in a later image (not in the reference) is blanked."""
    policy = Policy(device="cpu")
    scrub_dataset(_color3d_frame_as_rgb(0), policy, detector)
    later = _color3d_frame_as_rgb(60, "LIVER L1")
    result = scrub_dataset(later, policy, detector)
    assert "layout-reference" in result.detectors, "compared with the first image, not searched whole"
    (width, height), base = cv2.getTextSize("LIVER L1", cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    text = result.dataset.pixel_array[250 - height:250 + base, 250:250 + width]
    assert float((text.max(axis=2) <= 5).mean()) > 0.99


def test_a_faint_label_new_in_a_later_image_is_found_in_the_local_rendering(fresh_memory, detector):
    """A label 25 grey levels off a grey banner, in a later image of a layout: DB does not see it
    in "full", so the changed area is looked at in "local" too."""
    policy = Policy(device="cpu")
    first = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    scrub_dataset(first, policy, detector)
    later = copy.deepcopy(first)
    pixels, (x0, y0, x1, y1) = us1_with_a_banner(100, 125)
    later.PixelData = pixels.tobytes()
    result = scrub_dataset(later, policy, detector)
    assert "layout-reference" in result.detectors, "compared with the first image, not searched whole"
    assert any(d.rendering == "local" and d.box[0] <= x0 and d.box[2] >= x1 and d.box[1] <= y0 and d.box[3] >= y1
               for d in result.detections[0]), result.detections[0]
    assert any(b[0] <= x0 and b[2] >= x1 and b[1] <= y0 and b[3] >= y1 for b in result.boxes[0])


def test_the_changed_calibrated_region_is_read_by_its_lines_not_whole(fresh_memory, detector):
    """The moving image of a later file is not read whole (most of a file's cost), nor are its
    lone marks looked at: its lines of strokes are looked at closer, and the label among them is
    blanked."""
    policy = Policy(device="cpu")
    scrub_dataset(_color3d_frame_as_rgb(0), policy, detector)
    shapes: list[tuple[int, ...]] = []
    marks: list[tuple[int, ...]] = []
    counted = Counted(detector, lambda images: shapes.extend(image.shape[:2] for image in images))
    counted.marks = Counted(counted.marks, lambda images: marks.extend(image.shape[:2] for image in images))
    result = scrub_dataset(_color3d_frame_as_rgb(60, "DOE JANE 1960"), policy, counted)
    assert "layout-reference" in result.detectors
    assert not marks, "lone marks in the moving image (speckle grains) got closer looks"
    region = result.dataset.SequenceOfUltrasoundRegions[0]
    height = region.RegionLocationMaxY1 - region.RegionLocationMinY0
    width = region.RegionLocationMaxX1 - region.RegionLocationMinX0
    assert shapes and not [s for s in shapes if s[0] >= height and s[1] >= width], shapes
    (text_width, text_height), base = cv2.getTextSize("DOE JANE 1960", cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    text = result.dataset.pixel_array[250 - text_height:250 + base, 250:250 + text_width]
    assert float((text.max(axis=2) <= 5).mean()) > 0.99


@pytest.mark.parametrize("flag,compared", [([], True), (["--no-layout-reuse"], False)])
def test_the_cli_can_read_every_file_whole(fresh_memory, tmp_path, flag, compared):
    import json

    from pydicom.uid import generate_uid

    from scrubber.cli import main

    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.dcm", "b.dcm"):
        ds = pydicom.dcmread(data_path("US1_UNCR.dcm"))
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(inputs / name)
    audit = tmp_path / "audit.jsonl"
    code = main(["run", str(inputs), "-o", str(tmp_path / "out"), "--audit", str(audit), "--device", "cpu",
                 "--workers", "1", *flag])
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert code == 0 and len(lines) == 2
    assert any("layout-reference" in line["detectors"] for line in lines) == compared


def _later_sweep_image(detector, wanted: dict, group: str | None = None,
                       first_case: dict | None = None) -> tuple[Callable[[], list[float]], list[int]]:
    """US1 scrubbed first (or, given ``first_case``, that case of the recall sweep drawn on it), then
    the sweep's case ``wanted`` (of ``group``, where conditions of two groups look alike) drawn on
    US1 as a later image of its layout: a function that scrubs that image and gives the share of
    each label's glyph pixels that the boxes cover, and the labels' heights (the same order)."""
    from .util import glyph_covered, recall_sweep

    policy = Policy(device="cpu")
    template = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    base = np.ascontiguousarray(template.pixel_array)
    cases = list(recall_sweep().cases(base))
    first = copy.deepcopy(template)
    if first_case is not None:
        first.PixelData = np.ascontiguousarray(next(c for c in cases if c.condition == first_case).image).tobytes()
    scrub_dataset(first, policy, detector)
    case = next(c for c in cases if c.condition == wanted and group in (None, c.group))
    later = copy.deepcopy(template)
    later.PixelData = np.ascontiguousarray(case.image).tobytes()

    def covered() -> list[float]:
        result = scrub_dataset(later, policy, detector)
        assert "layout-reference" in result.detectors, "compared with the first image, not searched whole"
        return [glyph_covered(result.boxes[0], base.shape[:2], glyph) for glyph in case.glyphs]

    return covered, case.heights


def test_a_faint_place_left_unread_in_a_later_image_gets_the_training_normalisation(fresh_memory, detector,
                                                                                    monkeypatch):
    """The recall sweep's 8 px label 8 grey levels above a grey banner of 100, through JPEG q85, in
    a later image of US1's layout: the look at its place at [-1, 1] does not read it; the second
    look with DB's training normalisation, given to places faint on flat ground, does. (The look
    at its banner stretched alone and the look by the banner's exact grey read it too: turned off
    here.)"""
    from scrubber.detect import single, unread

    monkeypatch.setattr(single, "panel_alone", lambda crop, inner: np.zeros_like(crop))
    monkeypatch.setattr(unread, "level_lines", lambda image, usual=None: [])
    covered, heights = _later_sweep_image(detector, {"ground": 100, "delta": 8, "font": "hershey-duplex", "jpeg": 85})
    small = heights.index(8)
    assert covered()[small] == 1.0
    monkeypatch.setattr(detector, "trained", False)
    assert covered()[small] < 0.5


def test_a_label_a_few_grey_levels_off_black_new_in_a_later_image_is_found_whole(fresh_memory, detector,
                                                                                 monkeypatch):
    """The recall sweep's labels 12 grey levels above US1's black surround, in a later image of its
    layout: they differ from the first image by less than TOLERANCE, and their enhanced difference
    breaks into pieces; the lines of faint strokes on flat ground that differ from the first
    image are looked at whole (``_changed_faint_lines``)."""
    covered, _ = _later_sweep_image(detector, {"ground": 0, "delta": 12, "font": "truetype", "jpeg": None})
    assert covered() == [1.0, 1.0, 1.0]
    monkeypatch.setattr(series, "_changed_faint_lines", lambda *args: [])
    assert min(covered()) < 0.98


def test_a_text_free_image_after_its_lossy_twin_gets_no_box_from_the_changed_area(fresh_memory, detector,
                                                                                monkeypatch):
    """pydicom's bone scan (NM, 1024x256, no text) as JPEG 2000 and then losslessly: the second
    differs from the first all over, and the look at that changed area at [-1, 1] boxes a spot of
    anatomy that the image alone does not get. Squarish boxes from such a look are kept only where
    DB's training normalisation finds them too, as a single image's are (``_areas_read``)."""
    compared = []
    against = find.later_image
    monkeypatch.setattr(find, "later_image", lambda *args, **kwargs: compared.append(1) or against(*args, **kwargs))
    policy = Policy(device="cpu")
    scrub_dataset(pydicom.dcmread(data_path("JPEG2000_UNC.dcm")), policy, detector)
    twin = pydicom.dcmread(data_path("JPEG-LL.dcm"))
    assert scrub_dataset(copy.deepcopy(twin), policy, detector).boxes == [[]]
    assert compared, "compared with the first image, not searched whole"
    monkeypatch.setattr(series, "confirmed", lambda images, found, *args, **kwargs: [list(b) for b in found])
    assert scrub_dataset(copy.deepcopy(twin), policy, detector).boxes != [[]]


def test_a_faint_label_on_a_banner_new_in_a_later_image_is_read_on_its_banner_alone(fresh_memory, detector,
                                                                                   monkeypatch):
    """The recall sweep's 8 px label 8 grey levels above a grey banner of 170, through JPEG q85, in
    a later image of US1's layout: the banner is a changed place, but no look at it reads the
    label; the look at the changed panel alone in "enhanced" does (``_changed_panels``). (The look
    by the banner's exact grey reads it too: turned off here.)"""
    from scrubber.detect import unread

    covered, heights = _later_sweep_image(detector, {"ground": 170, "delta": 8, "font": "hershey-duplex", "jpeg": 85})
    small = heights.index(8)
    assert covered()[small] == 1.0
    monkeypatch.setattr(unread, "level_lines", lambda image, usual=None: [])
    monkeypatch.setattr(series, "_changed_panels", lambda *args: [])
    assert covered()[small] < 0.98


def test_large_type_over_tissue_that_changed_is_read_again_in_the_smooth_rendering(fresh_memory, detector):
    """The recall sweep's 36 px grey "ID 4455" over US1's pane, found in the first image in
    "smooth" only; a later image of the layout holds the same label over tissue moved by 9 px.
    Its place no longer shows what the first showed, so it is looked at again: in "full" DB gives
    the label no box, in "smooth" it reads it."""
    from .util import glyph_covered, recall_sweep

    policy = Policy(device="cpu")
    template = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    base = np.ascontiguousarray(template.pixel_array)
    sweep = recall_sweep()
    wanted = {"style": "grey", "font": "truetype", "jpeg": None}
    case = next(c for c in sweep.cases(base) if c.group == "large" and c.condition == wanted)
    first = copy.deepcopy(template)
    first.PixelData = np.ascontiguousarray(case.image).tobytes()
    assert any(d.rendering == "smooth" for d in scrub_dataset(first, policy, detector).detections[0])
    moved = base.copy()
    moved[100:340, 20:620] = np.roll(moved[100:340, 20:620], 9, axis=1)
    labels = [sweep.label(text, "truetype", height) for text, height in (("DOE JANE", 24), ("ID 4455", 36))]
    glyphs = sweep._place(moved, labels, sweep.LARGE_SLOTS, sweep._tissue_ink("grey"))
    later = copy.deepcopy(template)
    later.PixelData = moved.tobytes()
    result = scrub_dataset(later, policy, detector)
    assert "layout-reference" in result.detectors, "compared with the first image, not searched whole"
    assert glyph_covered(result.boxes[0], base.shape[:2], glyphs[1]) == 1.0
    assert any(d.rendering == "smooth" for d in result.detections[0])


def test_a_vertical_label_new_in_a_later_image_is_read_turned(fresh_memory, detector):
    """The recall sweep's "vertical" labels (white on black banners, running down US1's panes) in a
    later image of its layout: where the image differs, its lines turned a quarter get the closer
    look a single image gives them (``turned_read``)."""
    covered, _ = _later_sweep_image(detector, {"style": "banner", "turn": "down", "font": "truetype", "jpeg": None})
    assert min(covered()) >= 0.98


def test_a_box_confirmed_in_a_later_image_takes_in_what_the_look_finds_over_it_now(fresh_memory, detector,
                                                                                  monkeypatch):
    """Two of the recall sweep's banner images, labels 8 grey levels above US1's black surround:
    the second differs from the first by less than TOLERANCE, so the first's boxes ("local" only
    reads such labels) are confirmed by a look at their row, not replaced. The label in the
    second's lowest slot is longer than the first's there; the look reads it to its end, and
    what it reads is kept beside the first's box (alone, that box leaves the end unread)."""
    first = {"ground": 0, "delta": 8, "font": "hershey-simplex", "jpeg": None}
    covered, _ = _later_sweep_image(detector, first | {"jpeg": 85}, "banner", first)
    carried = []
    against = find.later_image

    def keeping_carried(*args, **kwargs):
        found = against(*args, **kwargs)
        carried.extend(d for d in found if d.detector == series.CARRIED)
        return found

    monkeypatch.setattr(find, "later_image", keeping_carried)
    assert covered() == [1.0, 1.0, 1.0]
    lowest = [d.box for d in carried if d.box[1] > 340 and d.box[3] < 370 and d.box[0] < 200]
    assert lowest and max(box[2] for box in lowest) < 125  # the label runs to x 134


def test_large_type_new_over_tissue_in_a_later_image_is_read_by_its_smooth_lines(fresh_memory, detector,
                                                                                 monkeypatch):
    """The recall sweep's 36 px grey "ID 4455" over US1's pane, new in a later image of its layout:
    the look at its changed place in "full", "enhanced" and "local" gives it no box; its line of
    strokes in "smooth" at half size, looked at close up (``smooth_lines``), reads it. (The look by
    its exact grey reads it too: turned off here.)"""
    from scrubber.detect import unread

    wanted = {"style": "grey", "font": "hershey-simplex", "jpeg": None}
    covered, heights = _later_sweep_image(detector, wanted, "large")
    assert covered()[heights.index(36)] == 1.0
    monkeypatch.setattr(unread, "level_lines", lambda image, usual=None: [])
    monkeypatch.setattr(series, "smooth_lines", lambda *args: [])
    assert covered()[heights.index(36)] < 0.5


def test_a_label_whose_line_breaks_at_colour_flow_in_a_later_image_is_read_whole(fresh_memory, detector,
                                                                                 monkeypatch):
    """The recall sweep's 18 px grey "ACC 99887766" over US1's pane and its colour flow, new in a
    later image of its layout: where it crosses the flow its strokes join the flow's, and its line
    of strokes breaks in two. Two things read it whole, each alone: the two pieces are looked at as
    one line (``unread.joined``), and the "neutral" look at a piece reaches along the line. With
    crops that do not reach along lines, joining still reads it; without joining too, each piece
    was read in part and its middle letters in neither. (The look by its exact grey reads it too,
    and so does the look at its line in the least channel, where the flow is dark: both turned off
    here.)"""
    from scrubber.detect import looks, unread

    monkeypatch.setattr(unread, "level_lines", lambda image, usual=None: [])
    monkeypatch.setattr(unread, "_lines_over_colour", lambda image, known, window=None: [])

    wanted = {"style": "grey", "font": "truetype", "jpeg": None}
    covered, heights = _later_sweep_image(detector, wanted, "tissue")
    assert covered()[heights.index(18)] >= 0.98
    monkeypatch.setattr(looks, "LINE_REACH", 0)
    assert covered()[heights.index(18)] >= 0.98
    monkeypatch.setattr(unread, "joined", lambda lines: list(lines))
    assert covered()[heights.index(18)] < 0.9


@pytest.mark.parametrize("skew, jpeg", [(0, 50), (1.5, None)])
def test_a_later_scanned_page_reads_its_block_of_faded_small_print_with_the_training_normalisation(
        fresh_memory, detector, monkeypatch, skew, jpeg):
    """The recall sweep's first scanned form (5 px black print) and then its form of 5 px faded print
    (through JPEG q50, or turned 1.5 degrees), as a later image of that layout: the running text
    below the table changed, and the look at its place (straight: a text-sized place; turned: a
    changed area taller than text) at [-1, 1] reads a tenth to a third of its lines. The place
    lies on paper (``on_flat_ground``), so the second look with DB's training normalisation reads
    them all, as the page alone gets them."""
    from scrubber.detect.renderings import on_flat_ground

    from .util import glyph_covered, recall_sweep

    sweep = recall_sweep()
    cases = {_key(c.condition): c for c in sweep.page_cases()}
    first = cases[_key({"font": "hershey-simplex", "size": 5, "ink": "black", "skew": 0, "jpeg": None})]
    later = cases[_key({"font": "hershey-simplex", "size": 5, "ink": "faded", "skew": skew, "jpeg": jpeg})]
    monkeypatch.setattr(series, "MANY_LOOKS", float("inf"))  # compared, though it differs everywhere (below)

    def body_covered() -> list[float]:
        boxes = _scrubbed_after(fresh_memory, detector, sweep.page_template(), first.image, later.image)
        return [glyph_covered(boxes, later.image.shape[:2], glyph) for glyph in later.glyphs[6:10]]

    assert min(body_covered()) >= 0.98
    monkeypatch.setattr(series, "on_flat_ground", lambda *args: False)
    assert max(body_covered()) < 0.9
    x, y, mask = later.glyphs[6]
    assert on_flat_ground(later.image, (x - 3, y - 3, x + mask.shape[1] + 3, y + mask.shape[0] + 3))
    base = np.ascontiguousarray(pydicom.dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    tissue = next(c for c in sweep.cases(base) if c.group == "tissue")
    for x, y, mask in tissue.glyphs:  # labels over US1's panes: their ground is speckle
        assert not on_flat_ground(tissue.image, (x - 3, y - 3, x + mask.shape[1] + 3, y + mask.shape[0] + 3))


def test_a_later_scanned_page_that_lost_text_gets_fewer_boxes_on_its_blank_jpeg_paper(fresh_memory, detector,
                                                                                     monkeypatch):
    """The recall sweep's first scanned form, and then its form of 7 px black print through JPEG q50
    as a later image of that layout: where the first held longer labels (cells, the paragraph's
    last line) the later page shows blank paper, changed places and panels on flat ground. The
    second look with DB's training normalisation and the looks at changed panels mark that paper's
    grain as text, or take it in below a label; what they find is kept where its pixels stand out,
    cut to the rows where they do (``standing_out``), which takes more than half of the boxes' area
    away from the blank paper, and every label is still covered."""
    from scrubber.detect.renderings import standing_out

    from .util import glyph_covered, recall_sweep

    sweep = recall_sweep()
    policy = Policy(device="cpu")
    cases = {_key(c.condition): c for c in sweep.page_cases()}
    first = cases[_key({"font": "hershey-simplex", "size": 5, "ink": "black", "skew": 0, "jpeg": None})]
    later = cases[_key({"font": "hershey-duplex", "size": 7, "ink": "black", "skew": 0, "jpeg": 50})]
    monkeypatch.setattr(series, "MANY_LOOKS", float("inf"))  # compared, though it differs everywhere (below)
    near = np.zeros(later.image.shape[:2], bool)  # the labels grown by 8 px, as the sweep scores them
    for x, y, mask in later.glyphs:
        near[max(0, y - 8):y + mask.shape[0] + 8, max(0, x - 8):x + mask.shape[1] + 8] = True

    def scrubbed() -> tuple[list[float], int]:
        boxes = _scrubbed_after(fresh_memory, detector, sweep.page_template(), first.image, later.image)
        blanked = np.zeros(near.shape, bool)
        for x0, y0, x1, y1 in boxes:
            blanked[y0:y1, x0:x1] = True
        return [glyph_covered(boxes, near.shape, glyph) for glyph in later.glyphs], int((blanked & ~near).sum())

    covered, away = scrubbed()
    assert min(covered) >= 0.98
    monkeypatch.setattr(series, "standing_out", lambda image, box: box)
    assert away < scrubbed()[1] / 2
    faint = next(c for c in sweep.cases(np.ascontiguousarray(pydicom.dcmread(data_path("US1_UNCR.dcm")).pixel_array))
                 if c.condition == {"ground": 100, "delta": 8, "font": "hershey-duplex", "jpeg": 85})
    for x, y, mask in faint.glyphs:  # labels 8 grey levels off their banner stand out, in all their rows
        cut = standing_out(faint.image, (x - 2, y - 2, x + mask.shape[1] + 2, y + mask.shape[0] + 2))
        assert cut is not None and cut[1] - policy.pad_px <= y and cut[3] + policy.pad_px >= y + mask.shape[0]


def test_a_later_scanned_page_whose_print_differs_everywhere_is_read_as_a_single_image(fresh_memory, detector):
    """The recall sweep's first scanned form, then its form of 5 px faded print turned 1.5 degrees
    through JPEG q50: every line of print differs, so the looks at what changed would take in the
    network pixels of 9 to 44 whole pages (``_looks_cost``) and took 4-12 s a page, where the page
    alone takes under 1 s, and they read less of it (4 of its labels left partly visible, 2 alone).
    It is read as a single image: the boxes it gets alone. A later US1 image with new labels
    is still compared with its first."""
    from .util import recall_sweep

    sweep = recall_sweep()
    cases = {_key(c.condition): c for c in sweep.page_cases()}
    first = cases[_key({"font": "hershey-simplex", "size": 5, "ink": "black", "skew": 0, "jpeg": None})]
    later = cases[_key({"font": "hershey-simplex", "size": 5, "ink": "faded", "skew": 1.5, "jpeg": 50})]
    results = []
    for pixels in (first.image, later.image, later.image):
        if len(results) == 2:
            fresh_memory.clear()  # the later page alone: the first of its layout
        ds = copy.deepcopy(sweep.page_template())
        ds.PixelData = pixels.tobytes()
        results.append(scrub_dataset(ds, Policy(device="cpu"), detector))
    after, alone = results[1], results[2]
    assert not any(name.endswith("-layout") or name == series.CARRIED for name in after.detectors)
    assert after.boxes == alone.boxes and after.boxes[0]
    ds, _ = _with_new_text(pydicom.dcmread(data_path("US1_UNCR.dcm")))
    fresh_memory.clear()
    scrub_dataset(pydicom.dcmread(data_path("US1_UNCR.dcm")), Policy(device="cpu"), detector)
    assert series.CARRIED in scrub_dataset(ds, Policy(device="cpu"), detector).detectors


def _scrubbed_after(layouts: LayoutMemory, detector, template: pydicom.Dataset, first: np.ndarray,
                    later: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The boxes of ``later`` scrubbed as a file like ``template`` right after ``first`` (the layout
    memory emptied before), compared with it, not searched whole."""
    layouts._items.clear()
    for pixels in (first, later):
        ds = copy.deepcopy(template)
        ds.PixelData = pixels.tobytes()
        result = scrub_dataset(ds, Policy(device="cpu"), detector)
    assert f"{detector.name}-layout" in result.detectors, "compared with the first page, not searched whole"
    return result.boxes[0]


def _key(condition: dict) -> str:
    return repr(sorted(condition.items()))


@pytest.mark.parametrize("wanted", [{"style": "grey", "turn": "up", "font": "truetype", "jpeg": None},
                                    {"style": "white", "turn": "down", "font": "hershey-simplex", "jpeg": 85}])
def test_a_later_images_lines_are_looked_for_around_what_changed(detector, wanted):
    """A later image's turned lines and lines on flat ground are looked for within the window around
    what changed (``changed_window``), at the whole image's stroke level: the same looks and boxes
    as over the whole image. One vertical label of the recall sweep over US1's panes (grey type
    over tissue, read by its light pixels; white type through JPEG), new in a later image: the turned
    looks' boxes, before any padding, cover nearly all of it either way."""
    from scrubber.detect.looks import Looks
    from scrubber.detect.unread import recheck, turned_read

    from .util import glyph_covered, recall_sweep

    base = np.ascontiguousarray(pydicom.dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    case = next(c for c in recall_sweep().cases(base) if c.group == "vertical" and c.condition == wanted)
    x, y, mask = case.glyphs[0]
    later = base.copy()  # the first label alone is new
    later[y - 4:y + mask.shape[0] + 4, x - 4:x + mask.shape[1] + 4] = \
        case.image[y - 4:y + mask.shape[0] + 4, x - 4:x + mask.shape[1] + 4]
    grey, before = (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in (later, base))
    window = series.changed_window(cv2.absdiff(grey, before) > series.TOLERANCE)
    assert window is not None and (window[2] - window[0]) * (window[3] - window[1]) < 0.5 * grey.size
    differs = lambda box: not series.same_content(grey, before, box)  # noqa: E731
    policy = Policy(device="cpu")
    found = {}
    for name, part in (("window", window), ("whole", None)):
        found[name] = sorted(d.box for d in turned_read(later, [], policy, detector, differs, part))
        looks = Looks(detector, "recheck")
        recheck(later, 0, [], looks, policy, differs, None, part)
        found[name + " recheck"] = sorted(d.box for _, d in looks.run())
    assert found["window"] == found["whole"] and found["window recheck"] == found["whole recheck"]
    assert glyph_covered(found["window"], grey.shape, case.glyphs[0]) >= 0.9
