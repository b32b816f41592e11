"""Multi-frame files whose frames are pages (a scanned document, a stack of screenshots), not a clip.

Read as a clip, a page's lines joined the moving image and were left to the per-frame looks, and a
line at the same place on half the pages or more was blanked on every page: the recall sweep's 108
pages six to a file lost 55 of their 1188 labels, and 4.4 % of their pixels outside the text
changed, against 1.1 % alone (benchmarks/documents.py). Pages are now read as single images and
planned apart.
"""
from __future__ import annotations

import copy
import functools
import itertools
import json

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.tag import Tag

from scrubber import files, qa
from scrubber.detect import find
from scrubber.detect.pages import PAGE_NUMBER_VECTOR, look_like_pages, read_as_pages
from scrubber.pipeline import plan_boxes, scrub_dataset
from scrubber.pixels import render
from scrubber.pixels.decode import decode
from scrubber.policy import Policy

from .util import data_path

import recall_sweep  # noqa: E402  (tests/util puts benchmarks/ on the path)

POLICY = Policy(device="cpu", reuse_layouts=False)


@functools.cache
def _forms() -> tuple[recall_sweep.Case, ...]:
    return tuple(itertools.islice(recall_sweep.page_cases(), 70))


def _pages(count: int, start: int = 0) -> list[recall_sweep.Case]:
    """``count`` scanned forms of the recall sweep, every seventh from ``start``: fonts, sizes and
    inks differ, the form's table is the same."""
    return list(_forms()[start::7][:count])


def _document(pages: list[recall_sweep.Case]) -> pydicom.Dataset:
    """The pages as the frames of a Secondary Capture file that does not say what its frames are."""
    ds = recall_sweep.page_template()
    ds.NumberOfFrames = len(pages)
    ds.PixelData = np.stack([page.image for page in pages]).tobytes()
    return ds


def _pages_of(ds: pydicom.Dataset, policy: Policy = POLICY) -> bool:
    full = render.for_detection(decode(ds, policy.max_samples), ds)
    return read_as_pages(ds, full, policy, getattr(full, "grey", None))


def _grey(ds: pydicom.Dataset):
    full = render.for_detection(decode(ds, POLICY.max_samples), ds)
    return lambda f: cv2.cvtColor(np.asarray(full[f]), cv2.COLOR_RGB2GRAY)


@pytest.mark.parametrize("name", ["color3d_jpeg_baseline.dcm", "examples_ybr_color.dcm", "emri_small.dcm",
                                  "liver.dcm", "rtdose.dcm"])
def test_the_real_clips_and_volumes_are_not_pages(name):
    ds = pydicom.dcmread(data_path(name))
    assert not _pages_of(ds)


@pytest.mark.parametrize("name", ["color3d_jpeg_baseline.dcm", "examples_ybr_color.dcm"])
def test_the_frames_of_a_real_ultrasound_clip_do_not_look_like_pages(name):
    """Their neighbours are alike, whatever the header says."""
    ds = pydicom.dcmread(data_path(name))
    assert not look_like_pages(_grey(ds), int(ds.NumberOfFrames))


@pytest.mark.parametrize("count, start", [(3, 0), (4, 0), (6, 1), (10, 2)])
def test_a_stack_of_scanned_forms_that_does_not_say_is_judged_pages_by_its_pixels(count, start):
    assert _pages_of(_document(_pages(count, start)))


def test_pages_of_a_line_each_are_pages_and_a_still_screen_with_a_blinking_cursor_is_not():
    """Pages of little print still differ in more than PAGE_CHANGE of their pixels; frames that
    differ in a cursor only are nearly equal: a clip, whose static layer is read once."""
    paper = _forms()[0].image.copy()
    paper[:] = 235
    lines = []
    for row, text in enumerate(["PATIENT DOE JANE", "MRN 0012345678", "SIGNED 2026-12-07"]):
        page = paper.copy()
        cv2.putText(page, text, (40, 100 + 200 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
        lines.append(page)
    assert _pages_of(_document([recall_sweep.Case("page", {}, page, [], []) for page in lines]))
    blinking = []
    for frame in range(6):
        screen = lines[0].copy()
        if frame % 2:
            screen[300:312, 200:202] = 0
        blinking.append(recall_sweep.Case("page", {}, screen, [], []))
    assert not _pages_of(_document(blinking))


def test_the_header_says_what_the_frames_are_where_it_can():
    """A Frame Increment Pointer naming the Page Number Vector makes pages of any frames, one naming
    the Frame Time a clip of pages; a class other than Secondary Capture is never pages."""
    still = _document(_pages(1) * 4)  # four equal frames: no pages by their pixels
    assert not _pages_of(still)
    still.FrameIncrementPointer = PAGE_NUMBER_VECTOR
    still.PageNumberVector = [1, 2, 3, 4]
    assert _pages_of(still)
    document = _document(_pages(4))
    document.FrameIncrementPointer = [Tag("FrameTime")]
    assert not _pages_of(document)
    del document.FrameIncrementPointer
    assert _pages_of(document)
    document.SOPClassUID = pydicom.uid.UltrasoundMultiFrameImageStorage
    assert not _pages_of(document)


def test_two_frames_of_a_secondary_capture_are_pages_unless_the_header_says_otherwise():
    """Their median, a clip's static layer, is their blend, and a box seen in one of two frames was
    blanked in both; no file is pages without the "full" rendering."""
    two = _document(_pages(2))
    assert _pages_of(two)
    two.FrameIncrementPointer = Tag("FrameTime")
    assert not _pages_of(two)
    assert not _pages_of(_document(_pages(4)), POLICY.replace(renderings=("local",)))
    assert not _pages_of(pydicom.dcmread(data_path("eCT_Supplemental.dcm")))  # two CT slices: not pages


@pytest.mark.parametrize("together", [4, 3])
def test_each_page_of_a_document_is_blanked_as_the_page_alone_is(detector, monkeypatch, together):
    """The boxes of each page are those of the page scrubbed as a file of its own, whether the four
    pages are read together or three and one, and every label is removed. Spread over the frames as
    a clip's are, the same detections would blank some page with lines that only other pages hold."""
    monkeypatch.setattr(find, "PAGES_BYTES", together * 800 * 600 * 3)
    read, single_images = [], find.single_images
    monkeypatch.setattr(find, "single_images", lambda full, *rest: read.append(len(full)) or single_images(full, *rest))
    pages = _pages(4, 5)
    document = scrub_dataset(_document(pages), POLICY, detector)
    assert read == [together, 4 - together] if together < 4 else [4]
    assert document.frames_read == "pages"
    for frame, page in enumerate(pages):
        alone = _document([page])
        del alone.NumberOfFrames
        assert document.boxes[frame] == scrub_dataset(alone, POLICY, detector).boxes[0]
        blanked = np.zeros(page.image.shape[:2], bool)
        for x0, y0, x1, y1 in document.boxes[frame]:
            blanked[y0:y1, x0:x1] = True
        covered = [blanked[y:y + m.shape[0], x:x + m.shape[1]][m].mean() for x, y, m in page.glyphs]
        assert min(covered) >= recall_sweep.COVERED, covered
    stored = np.stack([page.image for page in pages])
    spread = plan_boxes(copy.deepcopy(document.detections), stored, POLICY)
    assert spread != document.boxes
    assert any(sum((b[2] - b[0]) * (b[3] - b[1]) for b in s) > sum((b[2] - b[0]) * (b[3] - b[1]) for b in d)
               for s, d in zip(spread, document.boxes))


def test_the_audit_says_how_each_file_s_frames_were_read(annotated_run):
    lines = [json.loads(line) for line in (annotated_run.output.parent / "out.audit.jsonl").read_text().splitlines()]
    read = {line["frames"]: line["frames_read"] for line in lines if line["decision"] == "delivered"}
    assert read[1] == "image" and read[16] == "clip" and read[120] == "clip", read  # us_cine, color3d


def test_the_qa_pictures_of_pages_show_every_page(detector, tmp_path):
    """A clip's picture shows four key frames; a curator checks every page, each holding other
    text: the first four are in NAME.png, each next four in a picture beside it, a last page alone
    in one of its own."""
    src = tmp_path / "document.dcm"
    document = _document(_pages(9))
    document.FrameIncrementPointer = PAGE_NUMBER_VECTOR
    document.PageNumberVector = list(range(1, 10))
    document.save_as(src, enforce_file_format=True)
    report = files.scrub_file(src, tmp_path / "out.dcm", POLICY, qa=tmp_path / "qa", detector=detector)
    assert report.decision == "delivered" and report.frames_read == "pages"
    pictures = sorted(p.name for p in (tmp_path / "qa").iterdir())
    assert pictures == ["document.dcm.pages-5-8.png", "document.dcm.pages-9.png", "document.dcm.png"]
    rows = [cv2.imread(str(tmp_path / "qa" / name)).shape[0] for name in pictures]
    assert rows == [4 * 800 + 3 * 8, 800, 4 * 800 + 3 * 8]

    clip = tmp_path / "clip"
    clip.mkdir()
    frames = np.zeros((9, 40, 30, 3), np.uint8)
    qa.write_png(clip / "clip.dcm.png", frames, frames, [[] for _ in range(9)])
    assert [p.name for p in clip.iterdir()] == ["clip.dcm.png"]
    assert cv2.imread(str(clip / "clip.dcm.png")).shape[0] == 4 * 40 + 3 * 8  # four key frames
