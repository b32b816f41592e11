"""Every test file that ships with pydicom and pydicom-data through `scrub_paths`: counts per outcome.

    .venv/bin/python benchmarks/testfiles.py [--workers 2] [--json benchmarks/results/testfiles.json]

Each file must be delivered or quarantined with a reason; none may crash the batch. The table
lists every non-delivered file with its reason code so a wrong reason is easy to spot.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pydicom.data

from scrubber.api import scrub_paths
from scrubber.policy import Policy


def source_folders() -> list[Path]:
    folders = [Path(pydicom.data.__file__).parent / "test_files"]
    try:
        import data_store

        folders.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    return folders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        for folder in source_folders():
            shutil.copytree(folder, inputs / folder.parent.name, ignore=shutil.ignore_patterns("__pycache__"))
        started = time.perf_counter()
        summary = scrub_paths([inputs], Path(tmp) / "out", Policy(device="cpu"), workers=args.workers,
                              progress=lambda r: print(f"{r.decision:11s} {r.reason_code:28s} {r.frames:4d} "
                                                       f"{r.seconds:6.1f}s {r.rel}", flush=True))
        seconds = time.perf_counter() - started
    decisions = Counter(r.decision for r in summary.reports)
    reasons = Counter(r.reason_code for r in summary.reports if r.decision != "delivered")
    totals = {"files": len(summary.reports), "skipped_dicomdir": len(summary.skipped), **decisions,
              "reasons": dict(reasons), "frames": summary.frames, "boxes": summary.boxes,
              "seconds": round(seconds, 1)}
    print(json.dumps(totals, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "benchmark": "testfiles", "date": date.today().isoformat(),
            "command": " ".join(["benchmarks/testfiles.py", *sys.argv[1:]]),
            "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
            "totals": totals,
            "files": [{"file": r.rel, "decision": r.decision, "reason_code": r.reason_code, "reason": r.reason,
                       "frames": r.frames, "boxes": r.boxes_removed, "syntax_in": r.syntax_in,
                       "syntax_out": r.syntax_out, "seconds": round(r.seconds, 2)} for r in summary.reports],
        }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
