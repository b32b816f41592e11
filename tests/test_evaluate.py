"""The scorer (scrubber.evaluate) on sample data, and the hand annotations of real test files."""
from __future__ import annotations

import copy
import io
import json

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from scrubber.evaluate import (
    REMOVED_MAX_RESIDUAL,
    FileScore,
    glyph_mask,
    load_truth,
    over_redaction,
    over_redaction_frames,
    residual_fraction,
    score_file,
)
from scrubber.pixels import render
from scrubber.pixels.decode import decode

from .util import ANNOTATIONS, SAMPLE, TRUTH, data_path

MAX = 1 << 31


@pytest.fixture(scope="module")
def truth() -> dict:
    return load_truth(TRUTH)["files"]


@pytest.fixture(scope="module")
def us_single() -> tuple[pydicom.Dataset, np.ndarray]:
    ds = pydicom.dcmread(SAMPLE / "us_single.dcm")
    return ds, decode(ds, MAX).stored


def with_pixels(ds: pydicom.Dataset, arr: np.ndarray) -> pydicom.Dataset:
    """A copy of ``ds`` holding ``arr`` (frames, rows, cols, samples) as Explicit VR Little Endian."""
    out = copy.deepcopy(ds)
    frames = decode(ds, MAX)
    out.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out.PhotometricInterpretation = "YBR_FULL" if frames.photometric == "YBR_FULL_422" else frames.photometric
    if int(out.SamplesPerPixel) > 1:
        out.PlanarConfiguration = 0
    out.PixelData = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
    out["PixelData"].VR = "OW" if arr.dtype.itemsize > 1 else "OB"
    out["PixelData"].is_undefined_length = False
    buf = io.BytesIO()
    out.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return pydicom.dcmread(buf)


def fill(arr: np.ndarray, boxes: list[dict], value: int = 0) -> np.ndarray:
    out = arr.copy()
    for b in boxes:
        x0, y0, x1, y1 = b["box"]
        frames = slice(None) if b.get("frame") is None else b["frame"]
        out[frames, y0:y1, x0:x1] = value
    return out


# --- the scorer on us_single.dcm -------------------------------------------------------------


def test_filled_boxes_are_all_removed(us_single, truth):
    ds, stored = us_single
    entry = truth["us_single.dcm"]
    score = score_file(ds, with_pixels(ds, fill(stored, entry["boxes"])), entry)
    assert isinstance(score, FileScore)
    assert score.boxes == len(entry["boxes"]) == score.removed
    assert score.phi_removed == score.phi_boxes == sum(b["phi"] for b in entry["boxes"])
    assert score.empty == 0 and score.missed == []
    assert score.worst_residual <= REMOVED_MAX_RESIDUAL
    assert score.over_redaction == 0.0
    assert not score.unchanged


def test_untouched_copy_removes_nothing(us_single, truth):
    ds, _ = us_single
    entry = truth["us_single.dcm"]
    score = score_file(ds, copy.deepcopy(ds), entry)
    assert score.unchanged
    assert score.removed == score.empty == 0
    assert score.phi_removed == 0
    assert len(score.missed) == score.boxes
    assert score.worst_residual > 0.5
    assert score.over_redaction == 0.0


def test_reencoded_unchanged_pixels_are_not_over_redaction(us_single, truth):
    ds, stored = us_single
    entry = truth["us_single.dcm"]
    score = score_file(ds, with_pixels(ds, stored), entry)
    assert not score.unchanged  # other Pixel Data bytes (RLE -> native), same pixels
    assert score.over_redaction == 0.0 and score.removed == 0


@pytest.mark.parametrize("index", [0, 3, 4])  # white header, faint, outlined over tissue
def test_half_filled_box_is_not_removed(us_single, truth, index):
    ds, stored = us_single
    entry = truth["us_single.dcm"]
    arr = fill(stored, [b for i, b in enumerate(entry["boxes"]) if i != index])
    x0, y0, x1, y1 = entry["boxes"][index]["box"]
    arr[:, y0:y1, x0:(x0 + x1) // 2] = 0
    score = score_file(ds, with_pixels(ds, arr), entry)
    assert score.removed == score.boxes - 1
    assert [m.index for m in score.missed] == [index]
    assert 0.2 < score.missed[0].residual < 0.8
    assert score.missed[0].style == entry["boxes"][index]["style"]


def test_changes_outside_the_boxes_count_as_over_redaction(us_single, truth):
    ds, stored = us_single
    entry = truth["us_single.dcm"]
    arr = fill(stored, entry["boxes"])
    arr[0, 300:350, 100:150] = 255 - arr[0, 300:350, 100:150]  # 2500 px, none near a box
    score = score_file(ds, with_pixels(ds, arr), entry)
    assert score.removed == score.boxes
    rows, cols = stored.shape[1:3]
    kept_out = np.zeros((rows, cols), bool)
    for b in entry["boxes"]:
        x0, y0, x1, y1 = b["box"]
        kept_out[max(0, y0 - 8):y1 + 8, max(0, x0 - 8):x1 + 8] = True
    expected = 2500 / int((~kept_out).sum())
    assert score.over_redaction == pytest.approx(expected, rel=1e-6)
    assert 0.005 < score.over_redaction < 0.02


def test_changed_geometry_raises(us_single, truth):
    ds, stored = us_single
    cropped = with_pixels(ds, stored[:, :240])
    cropped.Rows = 240
    with pytest.raises(ValueError):
        score_file(ds, cropped, truth["us_single.dcm"])


def test_clip_with_per_frame_boxes(truth):
    ds = pydicom.dcmread(SAMPLE / "us_cine.dcm")
    entry = truth["us_cine.dcm"]
    stored = decode(ds, MAX).stored
    score = score_file(ds, with_pixels(ds, fill(stored, entry["boxes"])), entry)
    assert score.removed == score.boxes == len(entry["boxes"])
    assert score.over_redaction == 0.0
    assert {0, 8, 15} <= set(score.frames_judged)
    # leave the transient label (frames 5-7) in frame 6 only: exactly that box is missed
    transient = [i for i, b in enumerate(entry["boxes"]) if b["style"] == "transient" and b["frame"] == 6]
    keep = [b for i, b in enumerate(entry["boxes"]) if i not in transient]
    score = score_file(ds, with_pixels(ds, fill(stored, keep)), entry)
    assert [(m.index, m.frame) for m in score.missed] == [(transient[0], 6)]


def test_text_free_file_scores_clean(truth):
    ds = pydicom.dcmread(SAMPLE / "us_textfree.dcm")
    score = score_file(ds, copy.deepcopy(ds), truth["us_textfree.dcm"])
    assert score.boxes == score.removed == 0 and score.unchanged and score.over_redaction == 0.0


# --- the primitives --------------------------------------------------------------------------


def test_glyph_mask_on_flat_and_textured_backgrounds():
    rng = np.random.default_rng(0)
    img = np.full((60, 200), 30, np.uint8)
    cv2.putText(img, "AB12", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 200, 2)
    ys, xs = np.nonzero(img > 30)
    box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    m = glyph_mask(img, box)
    sub = img[box[1]:box[3], box[0]:box[2]]
    assert m.shape == sub.shape and m.sum() > 50
    assert not m[sub == 30].any()  # flat background: nothing but the strokes
    # outlined text over speckle: strokes marked, few speckle pixels
    speckle = np.clip(rng.normal(150, 20, (60, 200)), 0, 255).astype(np.uint8)
    text = np.zeros((60, 200), np.uint8)
    cv2.putText(text, "AB12", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    rim = cv2.dilate(text, np.ones((5, 5), np.uint8)) > 0
    speckle[rim] = 0
    speckle[text > 0] = 255
    ys, xs = np.nonzero(rim)
    box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    m = glyph_mask(speckle, box)
    inside_rim = rim[box[1]:box[3], box[0]:box[2]]
    assert m[inside_rim].mean() > 0.95
    assert m[~inside_rim].mean() < 0.15


def test_residual_fraction_primitives():
    img = np.full((40, 120), 20, np.uint8)
    cv2.putText(img, "XYZ", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 220, 2)
    box = [5, 5, 80, 35]
    assert residual_fraction(img, img, box) > 0.9
    filled = img.copy()
    filled[5:35, 5:80] = 0
    assert residual_fraction(img, filled, box) == 0.0
    inverted = img.copy()
    inverted[5:35, 5:80] = 255 - inverted[5:35, 5:80]
    assert residual_fraction(img, inverted, box) > 0.9
    blank = np.full((40, 120), 20, np.uint8)
    assert residual_fraction(blank, blank, box) == 0.0  # no glyph pixels: removed (empty)


def test_residual_judges_any_fill_that_covers_the_glyphs_alike():
    """A tool's own box, tight around the word and of any colour, removes the text; glyph edges it
    leaves out do not; strokes painted over one by one in a colour of their own stay legible."""
    img = np.full((60, 160), 230, np.uint8)  # dark text on a light form
    cv2.putText(img, "DOE 12", (15, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 30, 2)
    truth = [5, 5, 150, 55]  # the annotated box has a margin around the glyphs
    ys, xs = np.nonzero(img < 225)  # every glyph pixel, anti-aliased edges included
    tight = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    for colour in (0, 128, 255):
        filled = img.copy()
        filled[tight[1]:tight[3], tight[0]:tight[2]] = colour
        assert residual_fraction(img, filled, truth) <= 0.02, colour
    low = img.copy()  # the same box 4 px low: the tops of the glyphs are left standing
    low[tight[1] + 4:tight[3] + 4, tight[0]:tight[2]] = 0
    assert residual_fraction(img, low, truth) > 0.05
    strokes = img.copy()
    strokes[img < 130] = 120  # glyphs recoloured, background untouched: the shape still reads
    assert residual_fraction(img, strokes, truth) > 0.5


def test_over_redaction_primitives():
    before = np.zeros((100, 100, 3), np.uint8)
    after = before.copy()
    after[10:20, 10:20, 1] = 1  # inside box grown by 8
    assert over_redaction(before, after, [[12, 12, 18, 18]]) == 0.0
    after[90:100, 90:100, 2] = 5  # 100 px outside
    outside = 100 * 100 - (26 - 4) * (26 - 4)
    assert over_redaction(before, after, [[12, 12, 18, 18]]) == pytest.approx(100 / outside)
    clip_b = np.zeros((3, 50, 50, 1), np.uint16)
    clip_a = clip_b.copy()
    clip_a[1, 0:10, 0:10] = 7
    boxes = [{"frame": 1, "box": [0, 0, 5, 5]}, {"frame": None, "box": [40, 40, 45, 45]}]
    per = over_redaction_frames(clip_b, clip_a, boxes)
    assert per.shape == (3,) and per[0] == per[2] == 0.0 and per[1] == 0.0
    per = over_redaction_frames(clip_b, clip_a, boxes[1:])
    assert per[1] == pytest.approx(100 / (2500 - 18 * 18))  # grown box clipped at the edge


# --- ground truth files ----------------------------------------------------------------------


def test_sample_truth_boxes_have_glyph_pixels(truth):
    for name, entry in truth.items():
        if entry["text_free"]:
            continue
        ds = pydicom.dcmread(SAMPLE / name)
        rgb = render.full(decode(ds, MAX), ds)
        for b in entry["boxes"]:
            grey = cv2.cvtColor(rgb[b["frame"] or 0], cv2.COLOR_RGB2GRAY)
            assert glyph_mask(grey, b["box"]).sum() > 0, (name, b)


ANNOTATED = sorted(p.stem for p in ANNOTATIONS.glob("*.json"))


def test_annotations_exist():
    assert len(ANNOTATED) >= 10
    assert sum(load_truth(ANNOTATIONS / f"{n}.json")["text_free"] for n in ANNOTATED) >= 2


@pytest.mark.parametrize("stem", ANNOTATED)
def test_annotation_boxes_hold_glyphs(stem):
    entry = load_truth(ANNOTATIONS / f"{stem}.json")
    assert set(entry) == {"source", "text_free", "frames", "boxes"}
    assert entry["source"] in ("pydicom", "pydicom-data")
    assert entry["text_free"] == (not entry["boxes"])
    ds = pydicom.dcmread(data_path(f"{stem}.dcm"))
    frames = decode(ds, MAX)
    assert frames.count == entry["frames"]
    rgb = render.full(frames, ds)
    rows, cols = rgb.shape[1:3]
    greys = {}
    for b in entry["boxes"]:
        assert set(b) == {"frame", "box", "phi", "style"}
        assert isinstance(b["phi"], bool) and b["style"]
        x0, y0, x1, y1 = b["box"]
        assert 0 <= x0 < x1 <= cols and 0 <= y0 < y1 <= rows
        for f in ([0, frames.count // 2, frames.count - 1] if b["frame"] is None else [b["frame"]]):
            if f not in greys:
                greys[f] = cv2.cvtColor(rgb[f], cv2.COLOR_RGB2GRAY)
            assert glyph_mask(greys[f], b["box"]).sum() > 0, (stem, f, b)


@pytest.mark.parametrize("stem", ["US1_UNCR", "gdcm-US-ALOKA-16", "examples_ybr_color"])
def test_annotated_file_filled_scores_all_removed(stem):
    entry = load_truth(ANNOTATIONS / f"{stem}.json")
    ds = pydicom.dcmread(data_path(f"{stem}.dcm"))
    stored = decode(ds, MAX).stored
    score = score_file(ds, with_pixels(ds, fill(stored, entry["boxes"])), entry)
    assert score.removed == score.boxes and score.empty == 0
    assert score.over_redaction == 0.0
    untouched = score_file(ds, copy.deepcopy(ds), entry)
    assert untouched.removed == 0 and untouched.unchanged


def test_ybr_jpeg_written_natively_as_rgb_scores_like_a_fill():
    """Without the DCT path the writer turns the JPEG's YBR into RGB; the scorer compares in that
    space, exactly."""
    from scrubber.pixels.encode import encode
    from scrubber.pixels.fill import fill_value
    from scrubber.pixels.redact import redact

    entry = load_truth(ANNOTATIONS / "examples_ybr_color.json")
    ds = pydicom.dcmread(data_path("examples_ybr_color.dcm"))
    frames = decode(ds, MAX)
    boxes = [[tuple(b["box"]) for b in entry["boxes"] if b.get("frame") in (None, index)]
             for index in range(frames.count)]
    out = copy.deepcopy(ds)
    encode(out, frames, redact(frames.stored, boxes, fill_value(frames, ds)), boxes, jpeg_dct=False)
    buf = io.BytesIO()
    out.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    written = pydicom.dcmread(buf)
    assert str(written.PhotometricInterpretation) == "RGB"
    score = score_file(ds, written, entry)
    assert score.removed == score.boxes and score.over_redaction == 0.0


def test_annotation_json_has_no_text_strings():
    allowed = {"source", "text_free", "frames", "boxes", "frame", "box", "phi", "style",
               "pydicom", "pydicom-data"}
    for stem in ANNOTATED:
        entry = json.loads((ANNOTATIONS / f"{stem}.json").read_text())
        strings = {entry["source"]} | {b["style"] for b in entry["boxes"]}
        assert strings <= allowed | {"white", "grey", "small", "faint", "logo", "green"}, stem


def test_on_block_grid_grows_boxes_outwards_to_the_grid():
    from scrubber.evaluate import on_block_grid

    entry = {"text_free": False, "boxes": [{"box": [17, 3, 40, 16], "frame": None, "phi": True},
                                           {"box": [0, 32, 16, 48], "frame": 2}]}
    grid = on_block_grid(entry)
    assert [b["box"] for b in grid["boxes"]] == [[16, 0, 48, 16], [0, 32, 16, 48]]
    assert grid["boxes"][0]["phi"] and grid["boxes"][1]["frame"] == 2
    assert entry["boxes"][0]["box"] == [17, 3, 40, 16]  # the truth itself is left as it was
