"""Scanned documents: the recall sweep's pages, each alone and as the frames of multi-page files.

    .venv/bin/python benchmarks/documents.py [--pages-per-file 6] [--json benchmarks/results/documents.json]

A scanner or a report exporter may write a document's pages as the frames of one multi-frame
Secondary Capture file. Its frames are not a clip: each page should be blanked as it is alone.
Every page of the sweep's "page" group (600x800 forms, print of 5-10 px cap height) is scrubbed
as a file of its own and, in the sweep's order, ``--pages-per-file`` pages at a time as the frames
of one file; labels removed (98 % of the glyph pixels covered) and over-redaction (pixels changed
outside the labels grown by 8 px) are counted per page as ``recall_sweep`` counts them.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine, save, versions  # noqa: E402
from recall_sweep import COVERED, page_cases, page_template, score  # noqa: E402

from scrubber.detect.ocr import default_threads  # noqa: E402
from scrubber.detect.registry import detector_for  # noqa: E402
from scrubber.pipeline import scrub_dataset  # noqa: E402
from scrubber.policy import Policy  # noqa: E402


def _scrub(pixels: np.ndarray, policy: Policy, detector) -> tuple[list[list[tuple]], np.ndarray, float]:
    """Boxes per frame, the frames after, and the seconds ``scrub_dataset`` took on ``pixels``
    (frames, rows, cols, 3) as a file like our sample form."""
    ds = page_template()
    if len(pixels) > 1:
        ds.NumberOfFrames = len(pixels)
    ds.PixelData = pixels.tobytes()
    started = time.perf_counter()
    result = scrub_dataset(ds, policy, detector, keep_pixels=True)
    return result.boxes, np.asarray(result.after).reshape(pixels.shape), time.perf_counter() - started


def page_totals(rows: list[dict], seconds: float) -> dict:
    overs = [r["over_redaction"] for r in rows]
    return {"removed": sum(s >= COVERED for r in rows for s in r["covered"]),
            "labels": sum(len(r["covered"]) for r in rows),
            "over_redaction_mean": round(float(np.mean(overs)), 5), "over_redaction_max": round(max(overs), 5),
            "seconds": round(seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages-per-file", type=int, default=6)
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()
    policy = Policy(device="cpu", reuse_layouts=False)
    detector = detector_for(policy, default_threads(1))
    pages = list(page_cases())
    alone, together, spent = [], [], {"alone": 0.0, "documents": 0.0}
    for page in pages:
        boxes, after, seconds = _scrub(page.image[None], policy, detector)
        alone.append({"condition": page.condition, **score(page, boxes, after, [])})
        spent["alone"] += seconds
    for first in range(0, len(pages), args.pages_per_file):
        document = pages[first:first + args.pages_per_file]
        boxes, after, seconds = _scrub(np.stack([page.image for page in document]), policy, detector)
        spent["documents"] += seconds
        for frame, page in enumerate(document):
            together.append({"condition": page.condition,
                             **score(page, boxes[frame:frame + 1], after[frame:frame + 1], [])})
    totals = {"pages": len(pages), "pages_per_file": args.pages_per_file,
              "alone": page_totals(alone, spent["alone"]), "documents": page_totals(together, spent["documents"]),
              "pages_differing": sum(a != b for a, b in zip(alone, together))}
    print(totals)
    save(args.json, {"benchmark": "documents", "date": date.today().isoformat(),
                     "command": " ".join(["benchmarks/documents.py", *sys.argv[1:]]),
                     "machine": machine(), "versions": versions("scrubber", "easyocr", "torch", "onnxruntime"),
                     "totals": totals, "alone": alone, "documents": together})
    return 0


if __name__ == "__main__":
    sys.exit(main())
