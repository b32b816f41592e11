"""Accuracy on the annotated set: recall of text boxes (PHI and all), over-redaction, text-free files.

    .venv/bin/python benchmarks/accuracy.py [--set key=value ...] [--json benchmarks/results/NAME.json]

``--set`` changes a Policy field (e.g. --set renderings="('full',)" --set pad_px=2) so that detector
settings can be compared on the same files in one run. The annotated set is sample_data/truth.json
plus tests/annotations/*.json (real files from pydicom and pydicom-data).
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from datetime import date
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

from scrubber.detect.ocr import default_threads
from scrubber.detect.registry import detector_for
from scrubber.evaluate import on_block_grid, score_file
from scrubber.pipeline import scrub_dataset
from scrubber.policy import Policy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine, save, versions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def annotated_set() -> dict[str, tuple[Path, dict]]:
    files = {}
    for name, entry in json.loads((ROOT / "sample_data" / "truth.json").read_text())["files"].items():
        files[name] = (ROOT / "sample_data" / "dicom" / name, entry)
    for path in sorted((ROOT / "tests" / "annotations").glob("*.json")):
        files[f"{path.stem}.dcm"] = (Path(get_testdata_file(f"{path.stem}.dcm")), json.loads(path.read_text()))
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], help="Policy field=python literal")
    parser.add_argument("--only", action="append", default=[], help="score only these file names")
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()
    changes = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in args.set)}
    policy = Policy(device="cpu", **changes)
    detector = detector_for(policy, default_threads(1))
    rows = []
    for name, (path, entry) in annotated_set().items():
        if args.only and name not in args.only:
            continue
        ds = pydicom.dcmread(path)
        started = time.perf_counter()
        result = scrub_dataset(ds, policy, detector)
        seconds = time.perf_counter() - started
        score = score_file(ds, result.dataset, entry)
        grid = score_file(ds, result.dataset, on_block_grid(entry)) if result.encode_method == "jpeg_dct" else None
        rows.append({
            "file": name, "frames": result.frames, "text_free": entry["text_free"],
            "boxes": score.boxes, "removed": score.removed, "phi_boxes": score.phi_boxes,
            "phi_removed": score.phi_removed, "over_redaction": round(score.over_redaction, 5),
            "over_redaction_block_grid": None if grid is None else round(grid.over_redaction, 5),
            "unchanged": score.unchanged, "seconds": round(seconds, 2),
            "missed": [[m.index, m.frame, m.style, round(m.residual, 3), m.phi] for m in score.missed],
        })
        r = rows[-1]
        print(f"{name:34s} frames {r['frames']:4d}  text {r['removed']:3d}/{r['boxes']:3d}  "
              f"phi {r['phi_removed']:3d}/{r['phi_boxes']:3d}  over {100 * r['over_redaction']:5.2f}%  "
              f"{'unchanged' if r['unchanged'] else 'changed':9s} {seconds:6.1f}s  {r['missed'] or ''}",
              flush=True)
    totals = {
        "text_recall": sum(r["removed"] for r in rows) / max(1, sum(r["boxes"] for r in rows)),
        "phi_recall": sum(r["phi_removed"] for r in rows) / max(1, sum(r["phi_boxes"] for r in rows)),
        "max_over_redaction": max((r["over_redaction"] for r in rows if not r["text_free"]), default=0),
        "text_free_changed": sum(1 for r in rows if r["text_free"] and not r["unchanged"]),
        "seconds": round(sum(r["seconds"] for r in rows), 1),
    }
    print(json.dumps(totals))
    if args.json:
        result = {
            "benchmark": "accuracy", "date": date.today().isoformat(),
            "command": " ".join(["benchmarks/accuracy.py", *sys.argv[1:]]),
            "machine": machine(), "versions": versions("scrubber", "easyocr", "torch", "onnxruntime"),
            "policy_changes": {k: repr(v) for k, v in changes.items()}, "totals": totals, "files": rows,
        }
        save(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
