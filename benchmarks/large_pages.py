"""Large scanned pages: letter pages scanned at 200 and 300 dpi, read as scanned documents are and
as screen captures are, in one run.

    .venv/bin/python benchmarks/large_pages.py [--limit N] [--json benchmarks/results/large-pages.json]

A scanner writes a letter page at 200-300 dpi as a Secondary Capture of 1700x2200 to 2550x3300
pixels, Conversion Type SD. Each page here holds a letterhead of three lines, six labels in the
cells of a ruled table, six lines of a report's running text (body print of 8 or 11 pt), two lines of
6 pt fine print at its foot, and a signature in script: 18 labels, each scored as ``recall_sweep``
scores them (removed when 98 % of its glyph pixels are covered; over-redaction: pixels changed
outside the labels grown by 8 px). Print in black or faded ink, the page straight or turned 1.5
degrees, kept as scanned or through JPEG q50; the fonts take turns.

Every page is scrubbed twice in the same run: as the scanned document it is (SD: read at the
reduced size that ``scrubber.detect.scanned`` gives such pages) and with Conversion Type WSD, as a
screen capture of the same pixels is read (at full size), so the two columns differ only in that.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from documents import page_totals  # noqa: E402
from machine import machine, save, versions  # noqa: E402
from recall_sweep import (COVERED, FONTS, GRAIN, PAGE_INKS, PAPER, PEN, RULE_INK, SIGNATURES, Case,  # noqa: E402
                          Label, _jpeg, label, page_template, running, score, turned_page)

from scrubber.detect.ocr import default_threads  # noqa: E402
from scrubber.detect.registry import detector_for  # noqa: E402
from scrubber.pipeline import scrub_dataset  # noqa: E402
from scrubber.policy import Policy  # noqa: E402

DPIS = (200, 300)
BODY_POINTS = (8, 11)  # body print ...
FINE_POINTS = 6  # ... and the fine print at the foot
SKEWS = (0, 1.5)
JPEG = (None, 50)
FAR = 24  # px: over-redaction is also counted beyond this distance from the labels
LETTERHEAD = ("SPRINGFIELD GENERAL HOSPITAL", "Patient SMITH^JOHN  MRN 4455667", "DOB 1971-04-09  NHS 943 476 5919")
CELLS = ("DOE JANE 1960", "ID 0012345678", "03/12/2026 14:22", "ACC 99887766", "ST ELSEWHERE", "REF DR A WHO")
FINE = ("Confidential: Springfield General Hospital, 12 High St Springfield, tel 555-0142",
        "Printed 05/12/2026 by A Who for SMITH^JOHN (MRN 4455667)")


def cap_height(points: float, dpi: int) -> int:
    """Pixels of a capital of print of ``points`` at ``dpi`` (capitals are about 0.7 of the em)."""
    return round(points * 0.7 / 72 * dpi)


def large_page(number: int, dpi: int, body_points: int, ink: int, skew: float, font: str) -> tuple[np.ndarray, list]:
    """A letter page at ``dpi`` and each label's (x, y, glyph mask) where it ends up."""
    rows, cols = round(11 * dpi), round(8.5 * dpi)
    margin, body, fine = round(0.75 * dpi), cap_height(body_points, dpi), cap_height(FINE_POINTS, dpi)
    rng = np.random.default_rng(number)
    paper = PAPER + rng.normal(0, GRAIN, (rows, cols)) + np.linspace(-6, 6, cols)[None, :]
    image = np.repeat(np.clip(paper, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    placed: list[tuple[Label, int, int, tuple]] = []
    y = margin
    for text in LETTERHEAD:
        placed.append((label(text, font, body), margin, y, (ink,) * 3))
        y += 2 * body
    top, row_height, split = y + 2 * body, 3 * body, margin + round(0.3 * (cols - 2 * margin))
    rule = max(1, dpi // 150)
    for k in range(7):
        cv2.line(image, (margin, top + k * row_height), (cols - margin, top + k * row_height), (RULE_INK,) * 3, rule)
    for x in (margin, split, cols - margin):
        cv2.line(image, (x, top), (x, top + 6 * row_height), (RULE_INK,) * 3, rule)
    for k, text in enumerate(CELLS):
        lab = label(text, font, body)
        placed.append((lab, split + body, top + k * row_height + (row_height - lab.alpha.shape[0]) // 2, (ink,) * 3))
    y = top + 6 * row_height + 3 * body
    for lab in running(font, body, 11 * number, 6, cols - 2 * margin):
        placed.append((lab, margin, y, (ink,) * 3))
        y += 2 * body
    placed.append((label(SIGNATURES[number % 2], "hershey-script", 2 * body), margin + body, y + 2 * body, PEN))
    for k, text in enumerate(FINE):
        placed.append((label(text, font, fine), margin, rows - margin - (2 - k) * 2 * fine, (ink,) * 3))
    return turned_page(image, placed, skew)


def large_cases() -> Iterator[Case]:
    conditions = itertools.product(DPIS, BODY_POINTS, PAGE_INKS, SKEWS, JPEG)
    for number, (dpi, points, ink, skew, quality) in enumerate(conditions):
        font = FONTS[number % len(FONTS)]
        image, glyphs = large_page(number, dpi, points, PAGE_INKS[ink], skew, font)
        heights = [mask.shape[0] for _, _, mask in glyphs]
        yield Case("large-page", {"dpi": dpi, "points": points, "ink": ink, "skew": skew, "jpeg": quality,
                                  "font": font}, _jpeg(image, quality), glyphs, heights)


def _scrub(image: np.ndarray, conversion: str, policy: Policy, detector) -> tuple[list, np.ndarray, float, float]:
    """Boxes, pixels after, seconds and the scale it was read at, for ``image`` as an RGB Secondary
    Capture of Conversion Type ``conversion``."""
    ds = page_template()
    ds.ConversionType = conversion
    ds.Rows, ds.Columns = image.shape[:2]
    ds.PixelData = image.tobytes()
    started = time.perf_counter()
    result = scrub_dataset(ds, policy, detector, keep_pixels=True)
    seconds = time.perf_counter() - started
    return result.boxes, np.asarray(result.after).reshape(image.shape), seconds, result.read_scale


def _beyond(case: Case, after: np.ndarray, margin: int) -> float:
    """The share of pixels changed more than ``margin`` px from every label: boxes that are merely
    loose around a line of print change none of them."""
    near = np.zeros(case.image.shape[:2], bool)
    for x, y, mask in case.glyphs:
        near[max(0, y - margin):y + mask.shape[0] + margin, max(0, x - margin):x + mask.shape[1] + margin] = True
    return round(float((np.any(after != case.image, axis=-1) & ~near).mean()), 5)


def _totals(rows: list[dict]) -> dict:
    """``documents.page_totals`` of ``rows``, with the mean over-redaction beyond FAR px."""
    far = round(float(np.mean([r["over_redaction_beyond_24px"] for r in rows])), 5)
    return {**page_totals(rows, sum(r["seconds"] for r in rows)), "over_redaction_beyond_24px_mean": far}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N pages")
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()
    policy = Policy(device="cpu", reuse_layouts=False)
    detector = detector_for(policy, default_threads(1))
    runs: dict[str, list[dict]] = {"scanned": [], "screen": []}
    for case in itertools.islice(large_cases(), args.limit):
        for run, conversion in (("scanned", "SD"), ("screen", "WSD")):
            boxes, after, seconds, scale = _scrub(case.image, conversion, policy, detector)
            row = {"condition": case.condition, "seconds": round(seconds, 2), "read_scale": scale,
                   **score(case, boxes, after, []), "over_redaction_beyond_24px": _beyond(case, after, FAR)}
            runs[run].append(row)
        missed = {run: [c for c in rows[-1]["covered"] if c < COVERED] for run, rows in runs.items()}
        print(case.condition, *(f"{run}: {rows[-1]['seconds']} s, missed {missed[run]}" for run, rows in runs.items()),
              flush=True)
    totals = {run: _totals(rows) for run, rows in runs.items()}
    totals["time_ratio"] = round(totals["screen"]["seconds"] / max(totals["scanned"]["seconds"], 1e-9), 2)
    print(totals)
    save(args.json, {"benchmark": "large-pages", "date": date.today().isoformat(),
                     "command": " ".join(["benchmarks/large_pages.py", *sys.argv[1:]]),
                     "machine": machine(), "versions": versions("scrubber", "easyocr", "torch", "onnxruntime"),
                     "totals": totals, **runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
