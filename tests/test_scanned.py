"""Large scanned pages are read at half their size (scrubber/detect/scanned.py): the header says
which images are scans, every label of a 200-dpi letter page is still removed, and the boxes come
back in the stored pixels' coordinates."""
from __future__ import annotations

import functools
import itertools

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.tag import Tag

from scrubber.detect import find, tighten
from scrubber.detect.boxes import Detection
from scrubber.detect.scanned import LARGE_SIDE, REDUCED, enlarged, reading_scale
from scrubber.pipeline import scrub_dataset
from scrubber.policy import Policy

from . import util

assert util.ROOT  # tests/util puts benchmarks/ on the path

import large_pages  # noqa: E402
import recall_sweep  # noqa: E402

POLICY = Policy(device="cpu", reuse_layouts=False)
SC = "1.2.840.10008.5.1.4.1.1.7"
TRUE_COLOR_SC = "1.2.840.10008.5.1.4.1.1.7.4"
US = "1.2.840.10008.5.1.4.1.1.6.1"


@functools.cache
def _letter(number: int = 0) -> recall_sweep.Case:
    """A letter page of the large-page benchmark: 200 dpi (1700x2200), 8 pt print, 6 pt fine print."""
    return next(itertools.islice(large_pages.large_cases(), number, None))


def _file(images: list[np.ndarray], conversion: str = "SD") -> pydicom.Dataset:
    ds = recall_sweep.page_template()
    ds.ConversionType = conversion
    ds.Rows, ds.Columns = images[0].shape[:2]
    if len(images) > 1:
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = TRUE_COLOR_SC
        ds.NumberOfFrames = len(images)
    ds.PixelData = np.stack(images).tobytes()
    return ds


def _header(sop_class: str, conversion: str | None) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.SOPClassUID = sop_class
    if conversion is not None:
        ds.ConversionType = conversion
    return ds


@pytest.mark.parametrize("sop_class, conversion, rows, columns, scale", [
    (SC, "SD", 2200, 1700, REDUCED),  # a scanned document
    (SC, "SI", 1700, 2200, REDUCED),  # a scanned image, landscape
    (TRUE_COLOR_SC, "DF", 3300, 2550, REDUCED),  # digitized film, multi-frame class
    (SC, "WSD", 2200, 1700, 1.0),  # a workstation's screen: its interface text is small
    (SC, "DV", 2160, 3840, 1.0),  # digitized video
    (SC, None, 2200, 1700, 1.0),  # no Conversion Type: not known to be a scan
    (SC, "SD", LARGE_SIDE, 1600, 1.0),  # not larger than a tile
    (US, "SD", 2200, 1700, 1.0),  # only the Secondary Capture family says it is a scan
])
def test_the_header_says_which_large_images_are_scans(sop_class, conversion, rows, columns, scale):
    assert reading_scale(_header(sop_class, conversion), rows, columns) == scale


def test_boxes_found_at_half_size_grow_outwards_to_whole_stored_pixels():
    found = [Detection((10, 20, 31, 41), "db", "full"), Detection((0, 0, 850, 1100), "db", "local")]
    assert enlarged(found, 0.5, 2199, 1700) == [
        Detection((20, 40, 62, 82), "db", "full"), Detection((0, 0, 1700, 2199), "db", "local")]
    assert enlarged(found, 1.0, 2199, 1700) is found


def _blanked_share(case: recall_sweep.Case, boxes: list[tuple[int, int, int, int]]) -> list[float]:
    blanked = np.zeros(case.image.shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        blanked[y0:y1, x0:x1] = True
    return [float(blanked[y:y + m.shape[0], x:x + m.shape[1]][m].mean()) for x, y, m in case.glyphs]


def _shapes_read(monkeypatch) -> list[tuple[int, ...]]:
    """The shapes of the images the detector is given, as they are given."""
    shapes, single_images = [], find.single_images
    monkeypatch.setattr(find, "single_images",
                        lambda full, *rest: shapes.append(full.shape) or single_images(full, *rest))
    return shapes


def test_a_scanned_letter_page_is_read_at_half_size_and_every_label_is_removed(detector, monkeypatch):
    """Its 8 pt print, 6 pt fine print and signature: 18 labels; the detector sees the page at half size."""
    shapes = _shapes_read(monkeypatch)
    case = _letter()
    result = scrub_dataset(_file([case.image]), POLICY, detector)
    assert result.read_scale == REDUCED and result.frames_read == "image"
    assert shapes == [(1, 1100, 850, 3)]
    assert min(_blanked_share(case, result.boxes[0])) >= recall_sweep.COVERED
    assert all(x1 <= 1700 and y1 <= 2200 for frame in result.boxes for _, _, x1, y1 in frame)


def test_the_same_pixels_as_a_screen_capture_are_read_at_full_size(detector, monkeypatch):
    shapes = _shapes_read(monkeypatch)
    case = _letter(2)
    result = scrub_dataset(_file([case.image], "WSD"), POLICY, detector)
    assert result.read_scale == 1.0 and shapes == [(1, 2200, 1700, 3)]
    assert min(_blanked_share(case, result.boxes[0])) >= recall_sweep.COVERED


def test_each_page_of_a_scanned_document_is_read_at_half_size_as_the_page_alone_is(detector):
    pages = [_letter(0), _letter(5)]
    document = scrub_dataset(_file([page.image for page in pages]), POLICY, detector)
    assert document.frames_read == "pages" and document.read_scale == REDUCED
    for frame, page in enumerate(pages):
        assert document.boxes[frame] == scrub_dataset(_file([page.image]), POLICY, detector).boxes[0]
        assert min(_blanked_share(page, document.boxes[frame])) >= recall_sweep.COVERED


def test_a_line_of_print_on_grainy_paper_is_tightened_where_its_ends_differ_by_the_grain():
    """Each row's ground is what its two ends agree on; on paper of grain 3 they differ by more than
    the flat-ground tolerance in some rows, whose ground was then taken at their median, pulled
    down by the print, and whose paper passed for faint text: the box was kept whole."""
    stored = _letter().image[None]
    box = (146, 145, 500, 176)  # the letterhead's first line, capitals 150-167, as padded at full size
    tight = tighten.marks(stored, [0], box, tighten.TOLERANCE, 2, 0.1)
    assert tight == [(146, 146, 499, 171)]
    assert min(_blanked_share(_letter(), tight)[:1]) >= recall_sweep.COVERED


def test_two_lines_of_running_text_on_unevenly_lit_paper_are_tightened():
    """A padded box over a line of running text and the top of the next: print fills most of it, so
    the deviation of its pixels is the print's (the grain is judged at its ends), and in rows where
    the paper's brightness and grain set the ends 10 levels apart, the ground is a ramp between them
    (the median of such a row lies in the print). Judged otherwise, its paper passed for faint text
    and the box was kept whole."""
    box = (142, 606, 1550, 654)  # glyph rows 614-637, and the next line's from 646
    tight = tighten.marks(_letter().image[None], [0], box, tighten.TOLERANCE, 2, 0.1)
    assert tight != [box] and all(part[0] > box[0] and part[2] < box[2] for part in tight)
    assert min(_blanked_share(_letter(), tight)[9:10]) >= recall_sweep.COVERED


@pytest.mark.parametrize("pointer, read, scale", [(None, "pages", REDUCED), ("FrameTime", "clip", 1.0)])
def test_a_clip_of_large_scanned_frames_is_read_at_full_size_and_the_audit_says_so(detector, pointer, read, scale):
    """Frames told apart by their time are a clip, whose looks work on every frame at its size:
    only a single image and pages are read reduced, and ``read_scale`` says what was done."""
    frames = []
    for text in ("SMITH^JOHN 0012345678", "DOE JANE 03/12/2026"):
        frame = np.full((300, 2100, 3), 230, np.uint8)
        cv2.putText(frame, text, (100, 150), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (20, 20, 20), 3, cv2.LINE_AA)
        frames.append(frame)
    ds = _file(frames)
    if pointer is not None:
        ds.FrameTime = 40.0
        ds.FrameIncrementPointer = Tag(pointer)
    result = scrub_dataset(ds, POLICY, detector)
    assert (result.frames_read, result.read_scale) == (read, scale)
    assert all(result.boxes)
