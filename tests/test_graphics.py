"""Clean Graphics option: overlay planes are searched for text by the real detector, the text's
bits are cleared and the rest of the plane kept; without the option, or when a plane cannot be
read, overlays are removed."""
from __future__ import annotations

import cv2
import numpy as np
import pydicom

from scrubber import Policy, scrub_dataset
from scrubber.pixels.overlay import read_overlay, write_overlay

from .util import data_path

KEY = b"0123456789abcdef0123456789abcdef"
TEXT = (slice(20, 80), slice(10, 250))  # rows, cols where the text is drawn
SHAPE = (slice(180, 240), slice(170, 240))  # a drawn rectangle, far from the text


def _with_overlay(bits_allocated: int = 1) -> pydicom.Dataset:
    ds = pydicom.dcmread(data_path("CT_small.dcm"))
    ds.PatientName = "DOE^JOHN"
    plane = np.zeros((256, 256), np.uint8)
    cv2.putText(plane, "DOE JOHN", (15, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 1, 3)
    cv2.rectangle(plane, (180, 190), (230, 230), 1, 2)
    for element, vr, value in ((0x0010, "US", 256), (0x0011, "US", 256), (0x0040, "CS", "G"),
                               (0x0050, "SS", [1, 1]), (0x0100, "US", bits_allocated), (0x0102, "US", 0),
                               (0x0022, "LO", "marked by DOE on 2024-01-31"), (0x3000, "OW", b"\0" * (256 * 32))):
        ds.add_new((0x6000, element), vr, value)
    write_overlay(ds, 0x6000, plane[None])
    return ds


def test_clean_graphics_clears_text_in_overlays_and_keeps_the_rest(detector):
    ds = _with_overlay()
    before = read_overlay(ds, 0x6000)[0]
    result = scrub_dataset(ds, Policy(device="cpu", key=KEY, header_options={"clean_graphics"}), detector)
    out = result.dataset
    after = read_overlay(out, 0x6000)[0]
    assert before[TEXT].sum() > 500
    assert after[TEXT].sum() <= 0.02 * before[TEXT].sum()  # the text is gone
    assert after[SHAPE].sum() >= 0.5 * before[SHAPE].sum()  # the graphic is not
    assert np.array_equal(after[after == 1], before[after == 1])  # nothing is added
    description = str(out[0x6000, 0x0022].value)
    assert "DOE" not in description.upper() and "2024" not in description
    assert "113103" in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert result.timings["graphics"] > 0


def test_overlays_go_without_the_option_or_when_unreadable(detector):
    for policy, ds in ((Policy(device="cpu", key=KEY), _with_overlay()),
                       (Policy(device="cpu", key=KEY, header_options={"clean_graphics"}), _with_overlay(8))):
        out = scrub_dataset(ds, policy, detector).dataset
        assert not any(0x6000 <= pydicom.tag.Tag(t).group <= 0x601E for t in out.keys())
