"""Boxes the header calls for: ultrasound region calibration and known-location rules, through
the real pipeline (real detector, real files)."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from scrubber.detect.us_regions import image_regions, outside
from scrubber.pipeline import scrub_dataset
from scrubber.pixels.decode import decode
from scrubber.policy import Policy

from .util import data_path


def test_regions_are_read_with_inclusive_corners():
    regions = image_regions(pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm")))
    assert regions.boxes == ((84, 31, 596, 415),) and regions.ignored == 0


def test_waveform_regions_count_and_no_image_regions_do_not():
    ds = pydicom.dcmread(data_path("OBXXXX1A.dcm"))
    # MaxX1 800 in 800 columns: one past the edge, clipped
    assert image_regions(ds).boxes == ((120, 60, 800, 519), (176, 522, 744, 577))
    aloka = image_regions(pydicom.dcmread(data_path("gdcm-US-ALOKA-16.dcm")))
    assert aloka.boxes == ((32, 24, 336, 416), (336, 24, 640, 416))  # the format-0 region is no image


def test_a_region_outside_the_image_is_ignored_not_trusted():
    ds = pydicom.dcmread(data_path("examples_ybr_color.dcm"))  # 320x240 with a 640x480 calibration
    regions = image_regions(ds)
    assert regions.boxes == () and regions.ignored == 1


def test_a_region_with_a_missing_corner_is_ignored():
    ds = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"), stop_before_pixels=True)
    del ds.SequenceOfUltrasoundRegions[0].RegionLocationMaxY1
    assert image_regions(ds).boxes == () and image_regions(ds).ignored == 1


@pytest.mark.parametrize("boxes", [
    (),
    ((10, 10, 50, 40),),
    ((0, 0, 100, 80),),
    ((5, 5, 30, 30), (20, 20, 90, 70)),
    ((0, 10, 40, 30), (60, 10, 100, 30), (30, 50, 70, 80)),
])
def test_outside_covers_exactly_the_rest_of_the_image(boxes):
    width, height = 100, 80
    count = np.zeros((height, width), int)
    for x0, y0, x1, y1 in outside(boxes, width, height):
        count[y0:y1, x0:x1] += 1
    inside = np.zeros((height, width), bool)
    for x0, y0, x1, y1 in boxes:
        inside[y0:y1, x0:x1] = True
    assert (count[inside] == 0).all() and (count[~inside] == 1).all()


def test_blank_outside_regions_blanks_all_but_the_image(detector):
    ds = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    result = scrub_dataset(ds, Policy(device="cpu", outside_regions="blank"), detector)
    assert "us-regions" in result.detectors
    before, after = ds.pixel_array, result.dataset.pixel_array  # both RGB (the JPEG is written natively)
    keep = np.zeros(before.shape[1:3], bool)
    keep[31:415, 84:596] = True
    assert (after[:, ~keep] == after[0, 0, 0]).all(), "everything outside the region is one fill value"
    changed = (before != after).any(axis=-1)[:, keep]
    assert changed.mean() < 0.05, "inside the region only text boxes change"


def test_default_policy_does_not_blank_outside_regions(detector):
    ds = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    result = scrub_dataset(ds, Policy(device="cpu"), detector)
    assert "us-regions" not in result.detectors
    assert all(d.rendering != "header" for frame in result.detections for d in frame)


def test_a_user_rule_blanks_its_region_exactly_and_is_named(tmp_path, detector):
    (tmp_path / "site.toml").write_text(
        '[[rule]]\nname = "site-logiq-corner"\n'
        'when = { all = [ { tag = "Manufacturer", op = "contains", value = "G.E." },'
        ' { tag = "Rows", op = "equals", value = "480" } ] }\n'
        'regions = [[200, 200, 40, 30]]\n')
    ds = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    result = scrub_dataset(ds, Policy(device="cpu", rules_dirs=(str(tmp_path),)), detector)
    assert "rule:site-logiq-corner" in result.detectors
    after = decode(result.dataset, 1 << 30).stored[0]
    assert (after[200:230, 200:240] == 0).all()
    assert (200, 200, 240, 230) in result.boxes[0], "rule boxes are blanked as given, not padded"
    off = scrub_dataset(ds, Policy(device="cpu", rules_dirs=(str(tmp_path),), known_locations=False), detector)
    assert not any(name.startswith("rule:") for name in off.detectors)
