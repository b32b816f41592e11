"""Per-file flow and the fail-closed decision: decode -> detect -> redact -> encode -> header.

Nothing here is codec- or model-specific. A dataset either comes out fully cleaned (text boxes
blacked out, re-encoded and verified, header cleaned) or not at all, with a ScrubError saying why.
"""
from __future__ import annotations

import copy
import functools
import time
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset

from .detect import tighten
from .detect.boxes import Box, Detection, across, join_lines, pad, simplify
from .detect.registry import Detector, detector_for
from .detect.find import find_text
from .detect.layouts import Reference, memory
from .detect.pages import read_as_pages
from .detect.rules import rule_detections, rules_for
from .detect.scanned import reading_scale
from .detect.temporal import spread
from .detect.us_regions import image_regions, outside
from .errors import DetectFailed, HeaderFailed, ScrubError, SyntaxNotKept
from .header import clean_header
from .pixels import render
from .pixels.decode import Frames, decode
from .pixels.encode import encode
from .pixels.fill import fill_value
from .pixels.overlay import overlay_groups, read_overlay, write_overlay
from .pixels.redact import covered_pixels, redact
from .pixels.syntax import syntax_name
from .policy import Policy


@dataclass
class ScrubResult:
    """What scrub_dataset did to one dataset. ``dataset`` is the clean copy; the input is untouched."""

    dataset: Dataset
    frames: int
    detections: list[list[Detection]]  # per frame, as found (before padding)
    boxes: list[list[Box]]  # per frame, what was blacked out (lines joined, padded)
    pixels_changed: bool  # text was blacked out, or bits above High Bit (overlay planes) cleared
    unused_bits_cleared: bool
    encode_method: str  # unchanged | same | same_near | same_rate | jpeg_dct (whole blocks) | lossless | explicit_le
    encode_tolerance: int  # same_near: the JPEG-LS NEAR a re-encoded frame may differ by
    encode_changes: list[str]  # JPEG 2000 coding parameters a re-encoded frame could not keep
    backend: str  # the detector's runtime: onnx | torch (or the name of a caller's own detector)
    frames_read: str  # image (one frame) | clip (frames of one scene or volume) | pages (each read alone)
    read_scale: float  # the size its frames were read at (``scanned.reading_scale``: 0.5 for a large scanned page)
    syntax_in: str
    syntax_out: str
    header_counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    pixels_in_boxes: int = 0  # pixels inside the boxes, summed over frames
    pixels_blanked: int = 0  # pixels blanked: more than in the boxes where jpeg_dct grew them to blocks
    before: Frames | None = field(default=None, repr=False)
    after: np.ndarray | None = field(default=None, repr=False)
    after_photometric: str | None = field(default=None, repr=False)  # colour space of ``after``

    @property
    def boxes_removed(self) -> int:
        return sum(len(b) for b in self.boxes)

    @property
    def detectors(self) -> list[str]:
        return sorted({d.detector for frame in self.detections for d in frame})


EXACT = "header"  # rendering of detections that come from the header (rules, regions): not padded
TURNED = "turned"  # rendering of detections of lines that run up or down the image: joined and padded across


def plan_boxes(found: list[list[Detection]], stored: np.ndarray, policy: Policy,
               tolerance: int = tighten.TOLERANCE, pages: bool = False) -> list[list[Box]]:
    """Join words into lines, pad them, (for clips, not ``pages``) spread them over the frames they
    belong to, and tighten each to what stands out in ``stored`` (frames, rows, cols, samples) by
    more than ``tolerance`` where it is blanked (``tighten``; a page's in that page alone).
    Vertical lines (TURNED) are joined and padded along their columns, apart from the others:
    joined along rows, a line 200 px tall would take in every word within 200 px of it. Boxes from
    the header (known locations, outside the ultrasound regions) are blanked as given."""
    height, width = stored.shape[1:3]
    lines: dict[tuple, list[Box]] = {}  # the frames of a clip mostly hold the same words: join them once
    padded = []  # frames with the same words share one list: nothing below changes it
    for frame in found:
        words = tuple(d.box for d in frame if d.rendering not in (EXACT, TURNED))
        down = tuple(across(d.box) for d in frame if d.rendering == TURNED)
        if (words, down) not in lines:
            lines[words, down] = simplify(
                [pad(box, policy.pad_px, policy.pad_frac, width, height, text)
                 for box, text in join_lines(words)]
                + [across(pad(box, policy.pad_px, policy.pad_frac, height, width, text))
                   for box, text in join_lines(down)])
        padded.append(lines[words, down])
    if len(padded) > 1 and not pages:
        padded = spread(padded, policy.static_fraction)
    tight = tighten.tighten(padded, stored, tolerance, policy.pad_px, policy.pad_frac, apart=pages)
    return [simplify(boxes + [d.box for d in frame if d.rendering == EXACT]) for boxes, frame in zip(tight, found)]


def layout_key(ds: Dataset, policy: Policy, regions: tuple[Box, ...]) -> tuple:
    """What makes two images share where their text sits: device, software, size, colour space,
    calibration, and the detector settings that found the text."""
    device = tuple(str(ds.get(k, "")) for k in ("Manufacturer", "ManufacturerModelName",
                                                "SoftwareVersions", "SOPClassUID", "PhotometricInterpretation"))
    return (*device, int(ds.Rows), int(ds.Columns), int(ds.BitsStored), regions, policy.renderings,
            policy.text_threshold, policy.low_text, policy.link_threshold, policy.min_long_side)


def header_detections(ds: Dataset, policy: Policy, regions: tuple[Box, ...], frames: int) -> list[list[Detection]]:
    """Boxes that the header alone calls for: known-location rules, and with the policy's
    ``outside_regions="blank"`` everything outside the ultrasound image regions."""
    per_frame = rule_detections(rules_for(policy.rules_dirs, policy.known_locations), ds, frames)
    if policy.outside_regions == "blank" and regions:
        width, height = int(ds.Columns), int(ds.Rows)
        for found in per_frame:
            found.extend(Detection(box, "us-regions", EXACT) for box in outside(regions, width, height))
    return per_frame


def clean_overlays(ds: Dataset, policy: Policy, detector: Detector) -> frozenset[int]:
    """Clean Graphics: find text in each overlay plane and clear its bits. Returns the groups that
    were searched; a plane that cannot be read is not among them, and the header stage removes it."""
    cleaned = set()
    for group in overlay_groups(ds):
        try:
            plane = read_overlay(ds, group)
        except (ValueError, KeyError, TypeError):
            continue
        image = np.repeat((plane * 255)[..., None], 3, axis=-1)
        try:
            found = find_text(image, None, policy, detector)
        except Exception as exc:
            raise DetectFailed(f"text detector failed on an overlay ({type(exc).__name__})") from None
        boxes = plan_boxes(found, plane[..., None], policy, tolerance=0)
        if any(boxes):
            write_overlay(ds, group, redact(plane[..., None], boxes, (0,))[..., 0])
        cleaned.add(group)
    return frozenset(cleaned)


def check_syntax_kept(syntax_in: str, syntax_out: str, policy: Policy) -> None:
    """With ``keep_syntax="strict"`` a file leaves in its own transfer syntax or not at all: the
    codecs write what they can (scrubber/pixels/syntaxes.toml), the policy decides here."""
    if policy.keep_syntax == "strict" and syntax_out != syntax_in:
        raise SyntaxNotKept(f"transfer syntax not kept: {syntax_name(syntax_in)} would be written as "
                            f"{syntax_name(syntax_out)} (keep_syntax strict)")


def scrub_dataset(ds: Dataset, policy: Policy, detector: Detector | None = None,
                  keep_pixels: bool = False) -> ScrubResult:
    """Return a cleaned copy of ``ds``; raise ScrubError when it cannot be cleaned with certainty.

    ``keep_pixels`` keeps the decoded frames before and after redaction on the result (for QA).
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - clock
        clock = now

    out = copy.deepcopy(ds)
    syntax_in = str(out.file_meta.TransferSyntaxUID)
    frames = decode(out, policy.max_samples)
    lap("decode")
    detector = detector or detector_for(policy)
    full = render.for_detection(frames, out)
    window = render.window(frames, out) if "window" in policy.renderings else None
    lap("render")
    regions = image_regions(out).boxes
    scale = reading_scale(out, *frames.stored.shape[1:3])
    key = layout_key(out, policy, regions) if policy.reuse_layouts and frames.count == 1 and scale == 1.0 else None
    reference = memory().get(key) if key else None
    grey = getattr(full, "grey", None)
    try:
        pages = read_as_pages(out, full, policy, grey)
        if frames.count > 1 and not pages:
            scale = 1.0  # a clip's frames are read at their size
        found = find_text(full, window, policy, detector, regions, reference, grey, pages, scale)
    except Exception as exc:
        raise DetectFailed(f"text detector failed ({type(exc).__name__})") from None
    if key and reference is None:
        memory().put(key, Reference(full[0], tuple(found[0])))
    del full, window  # renderings of a long clip weigh as much as its frames: not held while it is encoded
    for frame, extra in zip(found, header_detections(out, policy, regions, frames.count)):
        frame.extend(extra)
    lap("detect")
    boxes = plan_boxes(found, frames.stored, policy, 0 if frames.photometric == "PALETTE COLOR" else tighten.TOLERANCE,
                       pages=pages)
    changed = any(boxes) or frames.unused_bits
    after, after_photometric = frames.stored, frames.photometric
    syntax_out, method, tolerance, coding_changes = syntax_in, "unchanged", 0, []
    in_boxes = covered_pixels(boxes, *frames.stored.shape[1:3])
    blanked = in_boxes
    if changed:
        @functools.cache
        def redacted() -> np.ndarray:  # made when the codec needs pixels (the DCT domain does not)
            lap("encode")
            frames_out = redact(frames.stored, boxes, fill_value(frames, out))
            lap("redact")
            return frames_out

        lap("redact")  # planning the boxes, as before
        encoded = encode(out, frames, redacted, boxes, jpeg_dct=policy.jpeg_dct)
        after, syntax_out, method, tolerance = encoded.after, encoded.syntax, encoded.method, encoded.tolerance
        coding_changes = list(encoded.changes)
        blanked = in_boxes if encoded.grown_pixels is None else encoded.grown_pixels
        after_photometric = encoded.photometric or frames.photometric
        lap("encode")
        check_syntax_kept(syntax_in, syntax_out, policy)
    graphics = clean_overlays(out, policy, detector) if "clean_graphics" in policy.header_options else frozenset()
    lap("graphics")
    try:
        report = clean_header(out, policy, pixels_cleaned=True, graphics_cleaned=graphics)
    except ScrubError:
        raise
    except Exception as exc:
        raise HeaderFailed(f"header could not be cleaned ({type(exc).__name__})") from None
    lap("header")
    return ScrubResult(
        dataset=out, frames=frames.count, detections=found, boxes=boxes, pixels_changed=changed,
        unused_bits_cleared=frames.unused_bits, encode_method=method, encode_tolerance=tolerance,
        encode_changes=coding_changes, backend=str(getattr(detector, "backend", type(detector).__name__)),
        frames_read="pages" if pages else "clip" if frames.count > 1 else "image", read_scale=scale,
        syntax_in=syntax_in, syntax_out=syntax_out, header_counts=dict(report.counts), timings=timings,
        pixels_in_boxes=in_boxes, pixels_blanked=blanked,
        before=frames if keep_pixels else None, after=after if keep_pixels else None,
        after_photometric=after_photometric if keep_pixels else None,
    )
