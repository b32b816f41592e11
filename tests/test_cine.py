"""Clips: OCR on the static layer and key frame, cheap checks in every other frame, and recall in
every frame (static text, a clock that changes, a label shown in a few frames only)."""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from scrubber.detect import buckets
from scrubber.detect.boxes import overlaps
from scrubber.detect.motion import analyse, appearing, changing_places, new_lines, showing_layer
from scrubber.evaluate import residual_fraction
from scrubber.pipeline import scrub_dataset
from scrubber.pixels.decode import decode
from scrubber.policy import Policy

from .util import data_path

FRAMES, ROWS, COLS = 48, 240, 320
FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_FRAMES = range(30, 34)


def _text(image: np.ndarray, text: str, org: tuple[int, int]) -> list[int]:
    (w, h), base = cv2.getTextSize(text, FONT, 0.45, 1)
    cv2.putText(image, text, org, FONT, 0.45, 235, 1, cv2.LINE_AA)
    return [org[0], org[1] - h - 1, org[0] + w + 1, org[1] + base]


def _clip() -> tuple[np.ndarray, dict[str, list[int]]]:
    """A moving 'image' in the middle, a static banner, a clock and a short-lived label."""
    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (ROWS + 60, COLS + 60)).astype(np.float32), (0, 0), 3)
    texture = cv2.normalize(texture, None, 30, 200, cv2.NORM_MINMAX)
    frames, boxes = [], {}
    for i in range(FRAMES):
        frame = np.full((ROWS, COLS), 12, np.uint8)
        dy, dx = int(20 + 15 * np.sin(i / 5)), int(20 + 10 * np.cos(i / 7))
        frame[40:190, 60:260] = texture[dy:dy + 150, dx:dx + 200].astype(np.uint8)
        boxes["banner"] = _text(frame, "DOE^JANE 4711", (6, 16))
        boxes[f"clock{i}"] = _text(frame, f"10:22:{i:02d}", (236, 16))
        if i in LABEL_FRAMES:
            boxes["label"] = _text(frame, "ACC 998877", (6, 222))
        frames.append(frame)
    return np.stack(frames), boxes


def _dataset(frames: np.ndarray) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "US", "DOE^JANE", "4711"
    ds.Rows, ds.Columns, ds.NumberOfFrames = ROWS, COLS, FRAMES
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = frames.tobytes()
    return ds


@pytest.fixture(scope="module")
def clip():
    frames, boxes = _clip()
    return _dataset(frames), frames, boxes


@pytest.fixture(scope="module")
def scrubbed(clip, detector):
    ds, _, _ = clip
    calls: list[tuple[tuple[int, ...], float]] = []

    def counting(images, magnify=None):
        calls.extend((image.shape, magnify or 0.0) for image in images)
        return detector(images, magnify=magnify)

    return scrub_dataset(ds, Policy(device="cpu"), counting), calls


def _residual(before: np.ndarray, after: np.ndarray, box: list[int]) -> float:
    return residual_fraction(before, after, box)


def test_every_text_is_gone_in_every_frame_it_is_in(clip, scrubbed):
    _, frames, boxes = clip
    after = decode(scrubbed[0].dataset, 1 << 30).stored[..., 0]
    for i in range(FRAMES):
        assert _residual(frames[i], after[i], boxes["banner"]) <= 0.02, f"banner in frame {i}"
        assert _residual(frames[i], after[i], boxes[f"clock{i}"]) <= 0.02, f"clock in frame {i}"
    for i in LABEL_FRAMES:
        assert _residual(frames[i], after[i], boxes["label"]) <= 0.02, f"label in frame {i}"


def test_the_label_is_blanked_only_around_the_frames_it_is_in(clip, scrubbed):
    _, frames, boxes = clip
    after = decode(scrubbed[0].dataset, 1 << 30).stored[..., 0]
    x0, y0, x1, y1 = boxes["label"]
    far = [i for i in range(FRAMES) if min(abs(i - f) for f in LABEL_FRAMES) > 3]
    assert all((after[i, y0:y1, x0:x1] == frames[i, y0:y1, x0:x1]).all() for i in far)


def test_the_moving_image_is_untouched(clip, scrubbed):
    _, frames, _ = clip
    after = decode(scrubbed[0].dataset, 1 << 30).stored[..., 0]
    assert (after[:, 50:180, 70:250] == frames[:, 50:180, 70:250]).all()


def test_ocr_cost_does_not_grow_with_the_frames(scrubbed):
    """Whole images: the static layer (its "local" rendering also magnified, on a canvas at least
    twice the frame's size; its "ink" rendering) and the key frame's extra renderings ("ink"
    whole), not one per frame; everything else is small crops."""
    _, calls = scrubbed

    def whole(shape: tuple[int, ...]) -> bool:
        return shape[:2] == (ROWS, COLS) or (shape[0] >= 2 * ROWS and shape[1] >= 2 * COLS)

    crop_pixels = sum(shape[0] * shape[1] for shape, _ in calls if not whole(shape))
    assert sum(whole(shape) for shape, _ in calls) <= 5
    assert crop_pixels < 6 * ROWS * COLS


def test_motion_finds_the_clock_and_the_label_but_not_the_image(clip):
    _, frames, boxes = clip
    motion = analyse(np.repeat(frames[..., None], 3, axis=-1))
    moving, places, _ = appearing(motion)
    clock = boxes["clock0"]
    changing = changing_places(motion, moving)
    assert any(p[0] < clock[2] and clock[0] < p[2] and p[1] < clock[3] and clock[1] < p[3] for p in changing)
    assert len(changing) <= 3, "the moving image is not a changing place"
    assert moving[60:190, 80:240].all()
    label = boxes["label"]
    for i in LABEL_FRAMES:
        assert any(p[0] < label[2] and label[0] < p[2] and p[1] < label[3] and label[1] < p[3]
                   for p in places[i]), f"label not seen appearing in frame {i}"
    assert not any(places[i] for i in (0, 10, 45) if i not in LABEL_FRAMES
                   for p in places[i] if p[1] > 200)


def test_every_frame_shows_the_layer_s_burned_in_text_and_no_frame_a_blend_of_two_slices(clip):
    """A clip's banner stays put over the moving image; in a two-frame "clip" whose frames are two
    slices (a mark in one slice only), the median is a half-tone of the mark that neither shows."""
    _, frames, boxes = clip
    assert showing_layer(analyse(np.repeat(frames[..., None], 3, axis=-1)), boxes["banner"]).all()
    slice_a = np.full((ROWS, COLS), 180, np.uint8)
    slice_b = slice_a.copy()
    cv2.circle(slice_a, (100, 100), 6, 20, -1)
    cv2.circle(slice_b, (140, 100), 6, 20, -1)
    slices = analyse(np.repeat(np.stack([slice_a, slice_b])[..., None], 3, axis=-1))
    assert not showing_layer(slices, (90, 90, 152, 112)).any()
    assert showing_layer(slices, (200, 90, 240, 112)).all(), "a box with no stroke is shown by every frame"


def test_the_static_layer_of_a_volume_s_slices_blanks_no_half_tone_marks(detector):
    """eCT_Supplemental holds two slices of a brain phantom and no text; its static layer (their
    median) shows half-tones of the dark marks that only one slice has, which CRAFT's closer look
    took for lone characters and blanked in both slices (7 boxes, 3.7 % of each frame). What
    is left is a mark both slices show and a spot a look at one slice finds (0.12 %)."""
    ds = pydicom.dcmread(data_path("eCT_Supplemental.dcm"))
    result = scrub_dataset(ds, Policy(device="cpu"), detector)
    assert len(result.boxes) == 2
    for boxes in result.boxes:
        assert sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes) < 0.005 * ds.Rows * ds.Columns, boxes


def test_bucketed_looks_find_what_single_looks_find(detector):
    """Crops padded to bucket shapes give the boxes a lone crop gives (ALOKA's lone 'Y')."""
    from scrubber.pixels import render

    ds = pydicom.dcmread(data_path("gdcm-US-ALOKA-16.dcm"))
    image = render.full(decode(ds, 1 << 30), ds)[0]
    crop = np.ascontiguousarray(image[0:24, 458:492])
    marks = getattr(detector, "marks", detector)  # lone characters are CRAFT's (db pairs with it)
    (alone,) = marks([crop], magnify=3.0)[0]
    (bucketed,) = buckets.look(marks, [crop], [3.0])[0]
    assert max(abs(a - b) for a, b in zip(alone, bucketed)) <= 1


def test_lazy_rendering_of_a_ybr_clip_matches_the_full_rendering():
    from scrubber.pixels import render

    ds = pydicom.dcmread(data_path("examples_ybr_color.dcm"))
    frames = decode(ds, 1 << 30)
    lazy, whole = render.for_detection(frames, ds), render.full(frames, ds)
    assert isinstance(lazy, render.LazyYbr) and lazy.shape == whole.shape
    assert (lazy[7] == whole[7]).all() and (lazy[[0, 29]] == whole[[0, 29]]).all()
    grey = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in whole]).astype(int)
    difference = np.abs(lazy.grey.astype(int) - grey)
    # Y is the luminance the detector would compute, but for saturated colours that RGB clips
    assert np.mean(difference <= 2) > 0.999 and difference.max() <= 8


def test_a_lazy_rendering_keeps_only_the_frames_asked_for_last(monkeypatch):
    """A long clip is not held again in RGB: past LAZY_BYTES the oldest frame is rendered anew."""
    from scrubber.pixels import render

    ds = pydicom.dcmread(data_path("examples_ybr_color.dcm"))
    frames = decode(ds, 1 << 30)
    whole = render.full(frames, ds)
    monkeypatch.setattr(render, "LAZY_BYTES", 4 * whole[0].nbytes)
    lazy = render.for_detection(frames, ds)
    for index in [*range(10), 2]:
        assert (lazy[index] == whole[index]).all()
    assert list(lazy._rgb) == [7, 8, 9, 2]


NAME_FRAMES, KIDNEY_FRAMES, FLASH_FRAMES = range(12, 20), range(22, 26), range(7, 8)


@pytest.fixture(scope="module")
def labelled_real_clip():
    """color3d's first 30 frames (a real moving 3D ultrasound rendering) with a name and a label
    drawn over the moving image, in a few frames each, and an ID in one frame only: they are in
    neither the static layer nor the key frames, and not on a flat background."""
    from pydicom.pixels import convert_color_space

    ds = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    rgb = convert_color_space(decode(ds, 1 << 31).stored[:30], "YBR_FULL_422", "RGB").copy()
    boxes: dict[str, list[int]] = {}
    for text, org, colour, frames in (("JOHN DOE 4471", (200, 200), (255, 255, 255), NAME_FRAMES),
                                      ("RT KIDNEY", (300, 300), (255, 255, 0), KIDNEY_FRAMES),
                                      ("MRN 4455667", (240, 150), (255, 255, 255), FLASH_FRAMES)):
        (w, h), base = cv2.getTextSize(text, FONT, 0.55, 1)
        boxes[text] = [org[0] - 1, org[1] - h - 1, org[0] + w + 1, org[1] + base + 1]
        for i in frames:
            cv2.putText(rgb[i], text, org, FONT, 0.55, colour, 1, cv2.LINE_AA)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PhotometricInterpretation, ds.PlanarConfiguration, ds.NumberOfFrames = "RGB", 0, 30
    ds.PixelData = rgb.tobytes()
    return ds, rgb, boxes


def test_a_name_shown_over_the_moving_image_for_a_few_frames_or_one_is_gone_in_each(labelled_real_clip, detector):
    ds, rgb, boxes = labelled_real_clip
    result = scrub_dataset(ds, Policy(device="cpu", reuse_layouts=False), detector)
    after = decode(result.dataset, 1 << 30).stored
    grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in rgb]
    after_grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in after]
    for text, frames in (("JOHN DOE 4471", NAME_FRAMES), ("RT KIDNEY", KIDNEY_FRAMES), ("MRN 4455667", FLASH_FRAMES)):
        for i in frames:
            assert residual_fraction(grey[i], after_grey[i], boxes[text]) <= 0.02, f"{text} in frame {i}"
        x0, y0, x1, y1 = boxes[text]
        far = [i for i in range(30) if min(abs(i - f) for f in frames) > 3]
        assert all((after[i, y0:y1, x0:x1] == rgb[i, y0:y1, x0:x1]).all() for i in far), f"{text} spread"


def test_a_still_clip_of_a_doppler_frame_is_blanked_as_the_frame_alone_is(detector):
    """A still clip (a frozen image kept as cine) of US1, whose colour flow never changes: its
    static layer was read in grey, where the flow is bright blobs on dark tissue, and DB read it
    as a 115x47 px line, blanked in every frame; the frame alone gets no box there. The layer is
    now read in the frame's colours where they are colours, and the clip gets the frame's boxes."""
    template = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    frame = np.ascontiguousarray(template.pixel_array)
    alone = scrub_dataset(template, Policy(device="cpu", reuse_layouts=False), detector)
    clip = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    clip.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    clip.NumberOfFrames, clip.PixelData = 4, np.stack([frame] * 4).tobytes()
    result = scrub_dataset(clip, Policy(device="cpu", reuse_layouts=False), detector)
    assert result.frames_read == "clip"
    assert all(sorted(boxes) == sorted(alone.boxes[0]) for boxes in result.boxes)


@pytest.mark.parametrize("count", [2, 6])
def test_a_label_touching_a_pane_s_frame_shown_in_one_frame_of_a_still_clip_is_gone(detector, count):
    """A still clip of US1's frame (a frozen image: cine frames before and after an annotation was
    typed) with a white label in one frame, whose top touches a pane's thin frame. The place
    where that frame differs from the median got a look that read only its first word, and the
    frame read whole at 1x none of it; a single image reads it by its line of strokes, close up.
    Such a place is now rechecked as a single image is (``clip._recheck_places``)."""
    frame = pydicom.dcmread(data_path("US1_UNCR.dcm")).pixel_array
    label = np.zeros(frame.shape[:2], np.uint8)
    cv2.putText(label, "DOE JANE 12345", (250, 300), FONT, 0.5, 255, 1, cv2.LINE_AA)
    frames = np.stack([frame] * count)
    shown = count // 2
    alpha = label[..., None].astype(np.float32) / 255
    frames[shown] = (frames[shown] * (1 - alpha) + 255 * alpha).astype(np.uint8)
    ds = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.NumberOfFrames, ds.PixelData = count, frames.tobytes()
    result = scrub_dataset(ds, Policy(device="cpu", reuse_layouts=False), detector)
    assert result.frames_read == "clip"
    rows, cols = np.nonzero(label)
    box = [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]
    after = decode(result.dataset, 1 << 30).stored
    grey = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in (frames[shown], after[shown])]
    assert residual_fraction(grey[0], grey[1], box) <= 0.02


@pytest.mark.parametrize("group", ["tissue", "large"])
def test_sweep_labels_over_tissue_shown_in_one_frame_of_a_still_clip_are_read_as_in_the_frame_alone(detector, group):
    """The sweep's white labels over US1's panes (truetype), drawn in one frame of a still 6-frame
    clip of US1, are read whole, as in the frame alone (``clip._recheck_places``).
    "tissue": 8, 12 and 18 px; the 8 px one lies half under a tall box of the static layer, so its
    place counted as covered and got no look, and its first letter stayed (0.84 covered); the
    recheck's lines of strokes, close up, read it.
    "large": 24 and 36 px; the 36 px "ID 4455" runs across a pane's frame, and the looks at its
    places read "4455" only (0.68 covered); the lines of its "smooth" rendering, close up, read it."""
    from .util import glyph_covered, recall_sweep

    template = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    base = np.ascontiguousarray(template.pixel_array)
    wanted = {"style": "white", "font": "truetype", "jpeg": None}
    case = next(c for c in recall_sweep().cases(base) if c.group == group and c.condition == wanted)
    frames = np.stack([base] * 6)
    frames[2] = case.image
    template.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    template.NumberOfFrames, template.PixelData = 6, frames.tobytes()
    result = scrub_dataset(template, Policy(device="cpu", reuse_layouts=False), detector)
    assert result.frames_read == "clip"
    assert all(glyph_covered(result.boxes[2], base.shape[:2], glyph) >= 0.98 for glyph in case.glyphs)


def test_a_line_shown_in_one_frame_flashes_there_and_the_moving_image_seldom_does(labelled_real_clip):
    """``new_lines``: the ID drawn in a single frame is a flashing line in that frame only, the
    name shown for several frames lingers; apart from the drawn text, the moving image forms at
    most one text-shaped flashing line in the 30 frames."""
    _, rgb, boxes = labelled_real_clip
    motion = analyse(rgb)
    moving, _, _ = appearing(motion)
    lines = new_lines(motion, moving)
    inside = lambda box, text: overlaps(box, tuple(boxes[text]))  # noqa: E731
    assert [f for f, found in enumerate(lines.flashing) if any(inside(b, "MRN 4455667") for b in found)] == \
        list(FLASH_FRAMES)
    assert any(inside(line.box, "JOHN DOE 4471") for line in lines.lingering[NAME_FRAMES[0]])
    others = [b for found in lines.flashing for b in found if not any(inside(b, text) for text in boxes)]
    assert len(others) <= 1, others


def _static_case(wanted: dict):
    """The recall sweep's "static" or "colour-clip" case drawn under ``wanted`` (its labels burned
    into 12 frames of the real cardiac clip), and a function giving the share of each label's glyph pixels
    that boxes (one list per frame) cover, for every label in every frame."""
    from .util import burned_case, glyph_covered

    clip, case = burned_case(wanted)
    frames = clip.pixel_array

    def covered(boxes_per_frame) -> list[float]:
        return [glyph_covered(boxes, frames.shape[1:3], glyph) for glyph in case.glyphs for boxes in boxes_per_frame]

    return case, covered


def test_a_faint_static_label_is_read_on_the_static_layer_as_one_image_is(detector):
    """The recall sweep's "static" labels 12 grey levels below a light banner, burned into 12
    frames of the real cardiac clip: the static layer is read as a single image is (its "local"
    rendering shows such labels), so every label is covered in every frame. CRAFT reading the
    static layer whole, as clips were read before, covers none of them (at most 63 % of one)."""
    from scrubber.detect.find import find_text
    from scrubber.detect.motion import static_layer

    case, covered = _static_case({"ground": 235, "delta": -12, "font": "truetype", "jpeg": None})
    found = find_text(case.image, None, Policy(device="cpu"), detector)
    assert min(covered([[d.box for d in frame] for frame in found])) == 1.0
    whole = detector.marks([static_layer(analyse(case.image))])[0]
    assert max(covered([whole])) < 0.98


def _static_label_covered(detector, wanted: dict, height: int):
    """A function giving the least share, over the 12 frames, of the "static" case's label of
    ``height`` px (drawn under ``wanted``) that the padded redaction of ``find_text`` covers."""
    from scrubber.detect import find
    from scrubber.pipeline import plan_boxes

    case, covered = _static_case(wanted)
    label = case.heights.index(height)

    def covered_label() -> float:
        policy = Policy(device="cpu")
        found = find.find_text(case.image, None, policy, detector)
        shares = covered(plan_boxes(found, case.image, policy))
        return min(shares[label * len(case.image):(label + 1) * len(case.image)])

    return covered_label


def test_a_faint_line_the_local_rendering_shows_is_read_to_its_ends_close_up(detector, monkeypatch):
    """The recall sweep's 8 px "static" label 12 grey levels above black: DB's whole pass at 1x over
    the static layer's "local" rendering boxes only part of it (the padded redaction covers 86 % of
    its glyph pixels); the closer look at that box's crop reads it to its ends, in every frame."""
    from scrubber.detect import clip, single

    monkeypatch.setattr(clip, "STATIC_LOCAL_ZOOMS", ())
    covered = _static_label_covered(detector, {"ground": 0, "delta": 12, "font": "hershey-simplex", "jpeg": None}, 8)
    assert covered() == 1.0
    monkeypatch.setattr(single, "_closer_at_local", lambda *args: [])
    assert covered() < 0.95


def test_small_faint_type_on_a_clip_s_static_layer_is_read_in_its_local_rendering_magnified(detector, monkeypatch):
    """The recall sweep's 8 px "static" label 8 grey levels below a grey banner of 100: DB's whole
    pass over the static layer's "local" rendering at 1x gives it no box; magnified 1.5x (a cost
    paid once per clip) it reads the label, in every frame. (The look at its banner alone and the
    look by its exact grey read it too: turned off here.)"""
    from scrubber.detect import clip, single, unread

    monkeypatch.setattr(single, "panels", lambda image: [])
    monkeypatch.setattr(unread, "level_lines", lambda image, usual=None: [])
    covered = _static_label_covered(detector, {"ground": 100, "delta": -8, "font": "truetype", "jpeg": None}, 8)
    assert covered() == 1.0
    monkeypatch.setattr(clip, "STATIC_LOCAL_ZOOMS", ())
    assert covered() < 0.5


def test_a_label_its_banner_enhanced_alone_misses_is_read_on_the_banner_stretched_alone(detector, monkeypatch):
    """The recall sweep's 8 px "static" label 8 grey levels above a banner of 100 over color3d's
    sector, through JPEG q85 (Hershey duplex): neither the enhanced static layer's crop of its
    banner nor that crop enhanced alone gives it a box; the banner stretched by its own grey range,
    on black (``panel_alone``), reads it in every frame. (The look by the banner's exact grey,
    which JPEG leaves between the glyphs, reads it too: turned off here.)"""
    from scrubber.detect import single, unread

    covered = _static_label_covered(detector, {"ground": 100, "delta": 8, "font": "hershey-duplex", "jpeg": 85}, 8)
    assert covered() == 1.0
    monkeypatch.setattr(unread, "level_lines", lambda image, usual=None: [])
    monkeypatch.setattr(single, "panel_alone", lambda crop, inner: np.zeros_like(crop))
    assert covered() < 0.5


def test_a_label_too_faint_for_strokes_over_a_clip_s_sector_is_read_on_its_banner_enhanced_alone(detector, monkeypatch):
    """The recall sweep's 8 px "static" label 8 grey levels above a banner of 170 over color3d's
    sector, through JPEG q85: it forms no strokes, but its banner is a panel of the static layer,
    and a look at that panel, enhanced (CLAHE) on its own, reads it in every frame. Cropped from
    the enhanced static layer, whose tiles also hold the sector, the same panel reads none of it.
    (The look by the banner's exact grey reads it too: turned off here.)"""
    from scrubber.detect import looks, single, unread
    from scrubber.detect.motion import static_layer
    from scrubber.detect.proposer import panels
    from scrubber.detect.renderings import enhance

    from .util import glyph_covered

    wanted = {"ground": 170, "delta": 8, "font": "truetype", "jpeg": 85}
    covered = _static_label_covered(detector, wanted, 8)
    assert covered() == 1.0
    case, _ = _static_case(wanted)
    layer = static_layer(analyse(case.image))
    glyph = case.glyphs[case.heights.index(8)]
    policy = Policy(device="cpu")

    def panel_looks(image: np.ndarray, render) -> float:
        queue = looks.Looks(detector, "lines", again=True)
        for panel in panels(layer):
            queue.add(0, image, panel, looks.crop_zoom(layer, policy, detector), margin=single.PANEL_MARGIN,
                      rendering="enhanced", render=render)
        return glyph_covered([d.box for _, d in queue.run()], layer.shape[:2], glyph)

    assert panel_looks(layer, enhance) == 1.0
    assert panel_looks(enhance(layer), None) < 0.5
    monkeypatch.setattr(unread, "level_lines", lambda image, usual=None: [])
    monkeypatch.setattr(single, "panels", lambda image: [])
    assert covered() < 0.5


def test_a_banner_whose_label_s_strokes_cut_it_apart_is_a_panel_with_its_holes_filled(detector, monkeypatch):
    """The recall sweep's 8 px "static" label 25 grey levels above a banner of 100 over color3d's
    sector, through JPEG q85. On the static layer the banner joins the flat blurred tissue around
    it, so it is a panel only with the steps at its edges cut out; but its label's strokes are
    such steps too, and they cut its inside apart. Filled within its flat ring, the banner is a
    panel again, and the look at it reads the label in every frame (no other look does)."""
    from scrubber.detect import proposer

    covered = _static_label_covered(detector, {"ground": 100, "delta": 25, "font": "hershey-duplex", "jpeg": 85}, 8)
    assert covered() == 1.0
    monkeypatch.setattr(proposer, "_filled", lambda mask: mask)
    assert covered() < 0.5


def test_coloured_type_burned_into_a_clip_is_read_in_the_colours_of_its_still_pixels(detector, monkeypatch):
    """The recall sweep's 8 px "colour-clip" label in blue, burned into 12 frames of the real
    cardiac clip over its sector: the static layer, a median of luminance, shows it about as dark
    as the tissue, and no look there reads it; in the colours of a frame at the pixels that never
    change, it is a line of the blue sector, and the look at that line in the blue plane reads
    it, in every frame (as do the look at it by its exact colour, ``ink_looks``, and the one at
    its line of blue's core hue, ``hue_lines``: all three are taken away to show that no other
    look reads it). The layer's whole pass, read in those colours where they are colours
    (``clip._layer_read``), reads it too: taken back to grey here."""
    from scrubber.detect import clip, unread
    from scrubber.detect.motion import static_layer

    covered = _static_label_covered(detector, {"colour": "blue", "font": "hershey-simplex", "jpeg": None}, 8)
    assert covered() == 1.0
    monkeypatch.setattr(clip, "_layer_read", lambda motion, coloured_layer: static_layer(motion))
    monkeypatch.setattr(unread, "colour_lines", lambda image, where=None: [])
    monkeypatch.setattr(unread, "ink_lines", lambda image: [])
    monkeypatch.setattr(unread, "hue_lines", lambda image, where=None: [])
    assert covered() < 0.5


def test_a_coloured_line_read_to_a_letter_short_of_its_end_is_looked_at_again(detector, monkeypatch):
    """The recall sweep's 18 px dark red "ACC 99887766" burned into 12 frames of the real cardiac
    clip: the static layer's whole pass reads it to its last "6" (a box over 0.91 of its line of
    the red sector). A line counts as read only where no run of its columns longer than half its
    height is left (``unread.read_to_ends``), so its line in the red plane is looked at and read to its
    end; by share alone, it counted as read (and the level and core-hue looks, which read the
    label's grey and its line of red's core hue in the layer, left out, and the layer read whole
    in grey, as before ``clip._layer_read``, whose colours read it to its end too)."""
    from scrubber.detect import clip, unread
    from scrubber.detect.motion import static_layer

    covered = _static_label_covered(detector, {"colour": "dark red", "font": "hershey-duplex", "jpeg": None}, 18)
    assert covered() >= 0.98
    monkeypatch.setattr(clip, "_layer_read", lambda motion, coloured_layer: static_layer(motion))
    monkeypatch.setattr(unread, "read_to_ends", lambda line, known: unread.share_covered(line, known) >= unread.LINE_COVERED)
    monkeypatch.setattr(unread, "level_lines", lambda image, usual=None: [])
    monkeypatch.setattr(unread, "hue_lines", lambda image, where=None: [])
    assert covered() < 0.95


COLOURED_FRAMES = {"JANE ROE 1962": range(12, 17), "ID 0012345678": range(7, 8)}


@pytest.fixture(scope="module")
def coloured_real_clip():
    """color3d's first 30 frames with a blue name shown over the moving image for five frames and
    a dark red ID for one: type about as dark as the tissue under it, so its grey strokes are
    those of the tissue. Returns the file, the frames before and after drawing, and each text's
    glyph pixels."""
    from pydicom.pixels import convert_color_space

    ds = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    plain = convert_color_space(decode(ds, 1 << 31).stored[:30], "YBR_FULL_422", "RGB").copy()
    rgb = plain.copy()
    for (text, frames), org, colour in zip(COLOURED_FRAMES.items(), ((215, 245), (240, 160)),
                                           ((0, 0, 255), (160, 0, 0))):
        for i in frames:
            cv2.putText(rgb[i], text, org, FONT, 0.5, colour, 1, cv2.LINE_AA)
    glyphs = {text: np.any(rgb[frames[0]] != plain[frames[0]], axis=-1) for text, frames in COLOURED_FRAMES.items()}
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PhotometricInterpretation, ds.PlanarConfiguration, ds.NumberOfFrames = "RGB", 0, 30
    ds.PixelData = rgb.tobytes()
    return ds, rgb, glyphs


def test_coloured_type_shown_for_a_moment_over_the_moving_image_is_gone_in_each_frame(coloured_real_clip, detector):
    """Blue and dark red type shown over color3d's moving sector in a few frames: in every frame
    it is looked for as lines of one colour among the pixels whose colour is not the static
    layer's, and read in its colour's plane, so each glyph pixel is blanked in each frame that
    shows it. Without the "colour" rendering, most of them stay."""
    ds, rgb, glyphs = coloured_real_clip

    def left(policy: Policy) -> dict[str, float]:
        after = decode(scrub_dataset(ds, policy, detector).dataset, 1 << 30).stored
        return {text: max(float(np.mean(np.all(after[i] == rgb[i], axis=-1)[glyphs[text]])) for i in frames)
                for text, frames in COLOURED_FRAMES.items()}

    policy = Policy(device="cpu", reuse_layouts=False)
    assert left(policy) == {text: 0.0 for text in COLOURED_FRAMES}
    without = left(Policy(device="cpu", reuse_layouts=False,
                          renderings=tuple(r for r in policy.renderings if r != "colour")))
    assert min(without.values()) > 0.5, without


def _doppler_clip(count: int) -> Dataset:
    """US1 as a clip of ``count`` frames whose colour flow (not its colour bars) moves and grows a
    little from frame to frame over its grey image, as a colour Doppler clip's does."""
    from scrubber.detect.renderings import coloured_pixels

    ds = pydicom.dcmread(data_path("US1_UNCR.dcm"))
    still = np.ascontiguousarray(ds.pixel_array)
    flow = coloured_pixels(still)
    flow[:, :50] = flow[:, 590:] = False  # the colour bars stay
    grey = np.repeat(cv2.cvtColor(still, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    frames = []
    for i in range(count):
        move = np.float32([[1 + 0.02 * (i % 5), 0, 3 * (i % 7) - 9], [0, 1 + 0.02 * (i % 5), 2 * (i % 3) - 2]])
        moved = cv2.warpAffine(still, move, (still.shape[1], still.shape[0]), flags=cv2.INTER_NEAREST)
        where = cv2.warpAffine(flow.astype(np.uint8), move, (still.shape[1], still.shape[0]),
                               flags=cv2.INTER_NEAREST) > 0
        frame = np.where(flow[..., None], grey, still)
        frame[where] = moved[where]
        frames.append(frame)
    ds.NumberOfFrames, ds.PixelData = count, np.stack(frames).tobytes()
    return ds


def test_a_doppler_clip_s_frames_look_for_no_lines_of_a_core_hue(detector, monkeypatch):
    """The lines of a pure hue's core (``hue_looks``: red type through JPEG beside red-to-yellow
    flow) are looked for in a clip's static layer, as in single images, but not in each frame
    with new colour: in a colour Doppler clip that is every frame, and its moving flow's pieces
    gave such lines, each a look (30 frames made of US1: 64 lines, detection 1.45x, no box more)."""
    from scrubber.detect import unread

    real, asked = unread.hue_lines, []

    def counted(image, where=None):
        lines = real(image, where)
        asked.append((where is not None, len(lines)))
        return lines

    monkeypatch.setattr(unread, "hue_lines", counted)
    ds = _doppler_clip(8)
    scrub_dataset(ds, Policy(device="cpu", reuse_layouts=False), detector)
    assert asked and not any(in_frame for in_frame, _ in asked)  # the static layer's (and key frame's) only
    from scrubber.detect import clip

    looks = clip.colour_looks

    def with_hues(*args, **kwargs):  # the frames' colour looks and, beside them, the hue looks
        queued = looks(*args, **kwargs)
        unread.hue_looks(*args[:5], where=kwargs.get("where"), looked=queued)
        return queued

    monkeypatch.setattr(clip, "colour_looks", with_hues)
    asked.clear()
    scrub_dataset(ds, Policy(device="cpu", reuse_layouts=False), detector)
    assert sum(count for in_frame, count in asked if in_frame) > 0


def test_a_faint_label_shown_for_a_moment_in_a_black_corner_is_read_in_each_frame(detector, monkeypatch):
    """The recall sweep's "faint-moment" labels, 12 grey levels above black, shown in 5 of 12
    frames of the real cardiac clip, in the black corner of its calibrated region: they differ
    from the median by less than STRONG, so they form no place where a frame changes; as faint
    places (pixels that seldom leave the median, lines with still rows above and below) each is
    looked at, magnified, in its enhanced and local renderings too, and is covered in every
    frame that shows it. Without faint places (and without the level looks and the whole reads of
    its grey's rendering, which read the label by its exact grey in the frames that hold it),
    none is."""
    from scrubber.detect import clip as clip_module
    from scrubber.detect import motion, unread

    covered = _moment_covered(detector, "faint_moment_cases",
                              {"ground": 0, "delta": 12, "font": "hershey-simplex", "jpeg": None, "frames": 5})
    policy = Policy(device="cpu")
    assert min(covered(policy)) == 1.0
    monkeypatch.setattr(motion, "faint_places", lambda difference, quiet: [])
    monkeypatch.setattr(unread, "level_lines", lambda image, usual=None: [])
    monkeypatch.setattr(clip_module, "stroke_levels", lambda image, usual=None: [])
    assert max(covered(policy)) < 0.5


def _moment_covered(detector, cases: str, wanted: dict) -> Callable[[Policy], list[float]]:
    """A function giving, under a policy, the shares of each glyph of the recall sweep's case
    ``wanted`` (of its ``cases`` function, labels shown for a moment in the real cardiac clip)
    that the padded redaction of ``find_text`` covers, in each frame that shows it."""
    from scrubber.detect import find
    from scrubber.pipeline import plan_boxes

    from .util import glyph_covered, recall_sweep

    frames = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm")).pixel_array
    case = next(c for _, found in getattr(recall_sweep(), cases)(frames) for c in found if c.condition == wanted)

    def covered(policy: Policy) -> list[float]:
        found = find.find_text(case.image, None, policy, detector, [(84, 31, 595, 414)])
        boxes = plan_boxes(found, case.image, policy)
        return [glyph_covered(boxes[f], frames.shape[1:3], glyph) for glyph in case.glyphs for f in case.shown]

    return covered


def test_dark_grey_type_shown_for_a_moment_over_the_dark_heart_is_read_by_its_grey(detector):
    """The recall sweep's "clip" labels in dark grey (25), shown in one of 12 frames of the real
    cardiac clip over its sector: no darker than the heart's hollows, they leave the median by too
    little to make a place. The frame holds flat pixels of their grey beyond what the clip's
    frames usually hold (``beyond``), so its level looks read them: covered in the frame that
    shows them. Without the "level" rendering, none is."""
    covered = _moment_covered(detector, "clip_cases", {"style": "dark", "font": "hershey-duplex", "jpeg": None,
                                                       "frames": 1})
    policy = Policy(device="cpu")
    assert min(covered(policy)) == 1.0
    without = policy.replace(renderings=tuple(r for r in policy.renderings if r != "level"))
    assert max(covered(without)) < 0.5


def test_no_frame_of_a_real_clip_holds_a_grey_beyond_the_others_until_type_is_drawn():
    """``beyond``: color3d's frames (in RGB) vary by thousands of flat black and near-black pixels
    from frame to frame, yet none holds any grey LEVEL_FLAT beyond and twice what they usually
    hold, so no frame pays for level lines; one with a dark grey label drawn in it does, by the
    label's grey, and its level lines lie over the label."""
    from scrubber.detect.proposer import LEVEL_FLAT, beyond, flat_counts, level_lines

    frames = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm")).pixel_array
    flat = [flat_counts(frame) for frame in frames]
    usual = np.median(flat, axis=0)
    assert max(float(np.max(counts - usual)) for counts in flat) >= LEVEL_FLAT, "no frame varies; this shows nothing"
    assert all(beyond(counts, usual).max() < LEVEL_FLAT for counts in flat)
    labelled = frames[40].copy()
    cv2.putText(labelled, "DOE JANE 0412", (200, 250), cv2.FONT_HERSHEY_DUPLEX, 0.6, (25, 25, 25), 1, cv2.LINE_AA)
    assert int(np.argmax(beyond(flat_counts(labelled), usual))) == 25
    lines = level_lines(labelled, usual)
    assert lines and all(level == 25 and overlaps(line, (200, 235, 340, 255)) for level, line in lines)


def test_a_clip_whose_tissue_saturates_in_some_frames_gets_no_level_look_at_its_white(detector, monkeypatch):
    """The sample clip's tissue clips to white in frames 11-13: those frames hold 65-84 flat white
    pixels where the others hold none, and a level look there read a patch of tissue as text.
    Black and white come and go with the image, so no frame of it is searched for level lines."""
    from scrubber.detect import clip as clip_module
    from scrubber.detect import unread
    from scrubber.detect.looks import Looks
    from scrubber.detect.proposer import LEVEL_FLAT, beyond, flat_counts

    from .util import SAMPLE

    stored = pydicom.dcmread(SAMPLE / "us_cine.dcm").pixel_array
    full = np.repeat(stored[..., None], 3, axis=-1)
    flat = [flat_counts(frame) for frame in full]
    usual = np.median(flat, axis=0)
    white = [i for i, counts in enumerate(flat) if beyond(counts, usual)[255] >= LEVEL_FLAT]
    assert white, "no frame saturates; this shows nothing"
    searched = []
    monkeypatch.setattr(unread, "level_lines", lambda image, usual=None: searched.append(image) or [])
    assert clip_module._level_moments(full, flat, [[] for _ in full], Looks(detector, "motion"),
                                      Policy(device="cpu")) == []
    assert searched == []


def test_faint_places_leave_out_the_speckle_at_the_sides_of_a_real_sector(monkeypatch):
    """On the real cardiac clip (no label drawn), faint speckle at the dark sides of its sector
    forms text-shaped lines that pass FAINT at pixels that seldom leave the median; the still
    rows above and below a faint label (``_alone``) are what tells them apart: a handful of
    faint places in 120 frames with that test, hundreds without."""
    from scrubber.detect import motion

    frames = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm")).pixel_array
    clip = analyse(frames)
    count = lambda: sum(map(len, appearing(clip, [(84, 31, 595, 414)])[2]))  # noqa: E731
    assert count() <= 6
    monkeypatch.setattr(motion, "ALONE", 1.0)
    assert count() > 100


def test_small_dark_grey_type_shown_for_a_moment_is_read_in_its_grey_s_rendering_whole(detector, monkeypatch):
    """The recall sweep's "clip" labels in dark grey (25), truetype, shown in 5 of 12 frames over
    the real cardiac clip's sector: the 8 and 12 px ones keep their exact grey in too few pixels
    to form the pieces of a level line, so no level look reads them; the frames hold their grey
    beyond the others, and that grey's rendering of each, read whole, does: every label covered in
    every frame that shows it. Without that whole read, not."""
    from scrubber.detect import clip as clip_module

    covered = _moment_covered(detector, "clip_cases", {"style": "dark", "font": "truetype", "jpeg": None, "frames": 5})
    policy = Policy(device="cpu")
    assert min(covered(policy)) == 1.0
    monkeypatch.setattr(clip_module, "stroke_levels", lambda image, usual=None: [])
    assert min(covered(policy)) < 0.5
