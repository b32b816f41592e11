"""The DB text line detector (PP-OCRv4 small; onnxruntime, or its graph in torch) and its pairing with CRAFT.

Real model, real files: DB must find the annotated text lines of a real ultrasound image, the
packaged file must match the manifest, and a lone character must still reach CRAFT.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from scrubber.detect import db
from scrubber.detect.models import ModelError, int8_path
from scrubber.detect.registry import detector_for, text_model
from scrubber.detect.torch_graph import TorchGraph
from scrubber.policy import Policy

ANNOTATIONS = Path(__file__).parent / "annotations"


def _share_covered(box, boxes) -> float:
    x0, y0, x1, y1 = box
    inside = np.zeros((y1 - y0, x1 - x0), bool)
    for a0, b0, a1, b1 in boxes:
        inside[max(0, b0 - y0):max(0, b1 - y0), max(0, a0 - x0):max(0, a1 - x0)] = True
    return float(inside.mean())


@pytest.fixture(scope="module")
def lines():
    return db.DbDetector(threads=1, min_long_side=640)


def test_db_finds_the_text_lines_of_a_real_ultrasound_image(lines):
    image = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm")).pixel_array
    found = lines([image])[0]
    truth = [b["box"] for b in json.loads((ANNOTATIONS / "US1_UNCR.json").read_text())["boxes"]]
    wide = [b for b in truth if b[2] - b[0] >= 30]  # words and lines (lone characters are CRAFT's)
    covered = [_share_covered(b, found) for b in wide]
    assert len(wide) >= 8
    assert min(covered) > 0.9, covered
    assert sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in found) < 0.25 * image.shape[0] * image.shape[1]


def test_db_finds_nothing_on_a_flat_image_and_batches_shapes(lines):
    flat = np.full((200, 300, 3), 40, np.uint8)
    text = flat.copy()
    cv2.putText(text, "DOE^JANE 1984", (10, 100), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (230, 230, 230), 2)
    other = np.zeros((64, 64, 3), np.uint8)
    found = lines([flat, text, other])
    assert found[0] == [] and found[2] == []
    assert any(x0 <= 14 and x1 >= 190 and y0 <= 86 and y1 >= 100 for x0, y0, x1, y1 in found[1])


def test_a_changed_model_file_is_refused(monkeypatch):
    from scrubber.detect import models

    monkeypatch.setitem(models.manifest()[db.MODEL], "sha256", "0" * 64)
    with pytest.raises(ModelError, match="sha256"):
        db.model_bytes()


def test_auto_pairs_db_with_craft_on_either_backend_and_craft_alone_on_request():
    assert text_model(Policy(device="cpu", backend="onnx")) == "db"
    assert text_model(Policy(device="cpu", backend="torch")) == "db"  # as on a CUDA device
    on_torch = detector_for(Policy(device="cpu", backend="torch"), 1)
    assert on_torch.name == "db" and on_torch.backend == "torch"  # DB and CRAFT both in torch (on a GPU: the card)
    assert isinstance(on_torch.text.network, TorchGraph) and on_torch.marks.backend == "torch"
    paired = detector_for(Policy(device="cpu"), 1)
    assert paired.name == "db" and paired.marks.name == "craft" and paired.crop_zoom == db.CROP_ZOOM
    alone = detector_for(Policy(device="cpu", text_model="craft"), 1)
    assert alone.path.name == "craft_mlt_25k.onnx"  # CRAFT reading whole images: the float32 export
    assert paired.marks.path == int8_path(alone.path)  # the closer looks at lone marks: its 8-bit model
    assert detector_for(Policy(device="cpu"), 1) is paired  # each loaded once
    with pytest.raises(ValueError, match="text_model"):
        Policy(text_model="tesseract")


def test_a_lone_character_is_found_by_craft_in_the_closer_look():
    from scrubber.detect.find import find_text

    image = np.zeros((480, 640, 3), np.uint8)
    cv2.putText(image, "WESTWAY MEDICAL", (20, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 200, 200), 1)
    cv2.putText(image, "Y", (400, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 200, 200), 1)
    detector = detector_for(Policy(device="cpu"), 1)
    found = find_text(image[None], None, Policy(device="cpu", reuse_layouts=False), detector)[0]
    assert any(d.detector.startswith("db") and d.box[0] <= 22 and d.box[2] >= 170 for d in found)
    assert any(d.detector == "craft-zoom" and d.box[0] <= 402 and d.box[2] >= 412 for d in found), found


def test_a_lone_digit_below_the_anatomy_of_an_mr_image_gets_its_closer_look():
    """MR2's anatomy holds hundreds of grains a little over MIN_CONTRAST off their ground, each a
    mark on flat ground; taken in raster order they filled MAX_PROPOSALS before a lone digit on
    the black below the anatomy was reached, and it stayed. Faint marks in a crowd of strokes are
    texture (``proposer._crowd``): the digit gets its closer look, and CRAFT finds it."""
    from scrubber.pipeline import scrub_dataset

    ds = pydicom.dcmread(get_testdata_file("MR2_UNCR.dcm"))
    pixels = ds.pixel_array.copy()
    mark = np.zeros(pixels.shape, np.uint8)
    cv2.putText(mark, "7", (900, 1000), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1)
    pixels[mark > 0] = pixels.max()
    ds.PixelData = pixels.tobytes()
    rows, cols = np.nonzero(mark)
    result = scrub_dataset(ds, Policy(device="cpu", reuse_layouts=False), detector_for(Policy(device="cpu"), 1))
    assert any(d.detector == "craft-zoom" and d.box[0] <= cols.min() and d.box[2] > cols.max()
               and d.box[1] <= rows.min() and d.box[3] > rows.max() for d in result.detections[0]), result.detections


def test_a_lone_digit_below_a_grid_of_digits_that_db_read_gets_its_closer_look():
    """240 lone digits on black (a table of numbers), each read by DB, are marks on flat ground:
    they filled MAX_PROPOSALS before their boxes were taken into account, and a lone digit below
    them got no closer look. Covered marks are now left out before the cap (``closer_look``)."""
    from scrubber.pipeline import scrub_dataset

    ds = pydicom.dcmread(get_testdata_file("MR2_UNCR.dcm"))
    pixels = np.zeros_like(ds.pixel_array)
    grid, lone = np.zeros(pixels.shape, np.uint8), np.zeros(pixels.shape, np.uint8)
    for index in range(240):
        row, column = divmod(index, 20)
        cv2.putText(grid, str(index % 10), (30 + 48 * column, 40 + 40 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1)
    cv2.putText(lone, "7", (900, 1000), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1)
    pixels[(grid > 0) | (lone > 0)] = ds.pixel_array.max()
    ds.PixelData = pixels.tobytes()
    rows, cols = np.nonzero(lone)
    result = scrub_dataset(ds, Policy(device="cpu", reuse_layouts=False), detector_for(Policy(device="cpu"), 1))
    assert len(result.boxes[0]) > 200  # the grid's digits: read, and no longer proposed
    assert any(d.box[0] <= cols.min() and d.box[2] > cols.max() and d.box[1] <= rows.min() and d.box[3] > rows.max()
               for d in result.detections[0]), result.detections


def test_coverage_is_share_covered_for_every_box():
    """``looks.coverage`` (one integral image) answers as ``share_covered`` (a mask per box)."""
    from scrubber.detect.looks import coverage, share_covered

    rng = np.random.default_rng(3)
    corners = rng.integers(0, 100, (60, 2))
    boxes = [(int(x), int(y), int(x + w), int(y + h)) for (x, y), (w, h) in zip(corners, rng.integers(1, 40, (60, 2)))]
    share = coverage((140, 140), boxes[:30])
    for box in boxes[30:]:
        assert share(box) == pytest.approx(share_covered(box, boxes[:30]))


def test_large_text_is_kept_and_a_disc_is_not_text(lines):
    """DB marks a disc as one tall "line"; looked at again at half the scale it stays too tall,
    while large text (a 100-px name) then has a line's height and is kept."""
    image = np.zeros((480, 640, 3), np.uint8)
    cv2.circle(image, (480, 300), 90, (255, 255, 255), -1)
    cv2.putText(image, "SMITH", (20, 150), cv2.FONT_HERSHEY_SIMPLEX, 3.5, (255, 255, 255), 8)
    rows, cols = np.nonzero(image[:, :360, 0])
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    assert bottom - top > 64  # taller than a line
    found = lines([image])[0]
    slack = 0.1 * (bottom - top)  # within the padding the pipeline adds (2 px + 10 % of the height)
    assert any(x0 <= left + slack and x1 >= right - slack and y0 <= top + slack and y1 >= bottom - slack
               for x0, y0, x1, y1 in found), found
    assert not any(x0 < 560 and x1 > 400 and y0 < 380 and y1 > 220 for x0, y0, x1, y1 in found), found


def test_a_large_page_goes_through_in_tiles_and_a_line_across_a_tile_edge_is_covered(lines, monkeypatch):
    """A scanned page larger than a tile: small print keeps its size (no scaling down), and a
    line that a tile's edge cuts is whole in the overlapping tile."""
    calls: list[tuple[int, ...]] = []
    run = lines._run
    monkeypatch.setattr(lines, "_run",
                        lambda images, scale, *rest: calls.append(images[0].shape) or run(images, scale, *rest))
    image = np.zeros((2600, 2600, 3), np.uint8)
    cv2.putText(image, "DOE JANE", (1980, 1000), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    rows, cols = np.nonzero(image[..., 0])
    found = lines([image])[0]
    assert len(calls) == 4 and all(max(shape[:2]) <= db.TILE for shape in calls)
    covered = np.zeros(image.shape[:2], bool)
    for x0, y0, x1, y1 in found:
        covered[y0:y1, x0:x1] = True
    assert covered[rows, cols].mean() > 0.97


def test_the_training_normalisation_is_paddleocrs_and_the_default_is_minus_one_to_one():
    """``_input``: [-1, 1] by default (as rapidocr feeds the network); with ``trained=True`` each
    BGR channel / 255 minus ImageNet's mean over its standard deviation, listed in the order
    PaddleOCR applies them to its BGR channels (blue gets 0.485 / 0.229), as it trained it."""
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, 16:] = (255, 128, 0)  # RGB
    plain, trained = db._input([image], 1.0), db._input([image], 1.0, trained=True)
    assert plain.min() == -1.0 and plain.max() == 1.0
    blue, green, red = trained[0, :, 0, 20]  # BGR order
    assert blue == pytest.approx((0 - 0.485) / 0.229, abs=1e-5)
    assert red == pytest.approx((1 - 0.406) / 0.225, abs=1e-5)
    assert green == pytest.approx((128 / 255 - 0.456) / 0.224, abs=1e-5)
    assert trained[0, 0, 0, 0] == pytest.approx(-0.485 / 0.229, abs=1e-5)


def test_db_in_torch_gives_onnxruntimes_maps_and_boxes(lines):
    """The torch engine (a GPU's DB) runs the packaged file's own graph: on real images, in both
    normalisations and a batch of two, its probabilities are onnxruntime's to float rounding, and
    its boxes the same."""
    in_torch = db.DbDetector(threads=1, min_long_side=640, engine="torch")
    assert len(in_torch.network.steps) < 200  # 330 nodes fused (affine blocks into convolutions, hard swish)
    images = [pydicom.dcmread(get_testdata_file(name)).pixel_array[..., :3] for name in ("US1_UNCR.dcm",)]
    page = pydicom.dcmread(Path(__file__).parents[1] / "sample_data" / "dicom" / "sc_form.dcm").pixel_array
    images.append(np.ascontiguousarray(np.repeat(page[..., None], 3, 2) if page.ndim == 2 else page))
    for trained in (False, True):
        for image in images:
            batch = db._input([image, image[::-1].copy()], 1.0, trained)
            ours, theirs = in_torch.network(batch), lines.network(batch)
            assert ours.shape == theirs.shape and float(np.abs(ours - theirs).max()) < 2e-3
            assert in_torch([image], trained=trained) == lines([image], trained=trained)
