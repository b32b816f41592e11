"""Labels shown in one frame of a still clip, against the same frame read alone.

    .venv/bin/python benchmarks/still_clips.py [--groups tissue,large] [--frames 6]
        [--json benchmarks/results/still-clips.json]

A clip whose image stands still (cine frames kept before and after an annotation was typed on a
frozen image) finds a label shown in some of its frames where those frames differ from the
median, not by reading every frame whole. Does it remove what the frame alone loses? Each of the
recall sweep's US1 cases of ``--groups`` (``recall_sweep.cases``: labels over US1's panes, as
drawn and through JPEG q85) is drawn in the middle frame of a still clip of ``--frames`` copies of
US1's frame (explicit VR little endian), and scrubbed as a clip and as that frame alone. A label
counts as removed when the redaction covers 98 % of its glyph pixels (as in the sweep);
over-redaction is the sweep's, over every frame of the clip.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine, save, versions  # noqa: E402
from recall_sweep import COVERED, Case, _annotated, cases, score  # noqa: E402

from scrubber.detect.ocr import default_threads  # noqa: E402
from scrubber.detect.registry import detector_for  # noqa: E402
from scrubber.pipeline import scrub_dataset  # noqa: E402
from scrubber.policy import Policy  # noqa: E402


def _scrubbed(template: pydicom.Dataset, frames: np.ndarray, policy: Policy, detector) -> tuple[list, np.ndarray]:
    """Boxes per frame and the frames after scrubbing ``frames`` as a file like ``template``."""
    ds = copy.deepcopy(template)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.NumberOfFrames, ds.PixelData = len(frames), frames.tobytes()
    result = scrub_dataset(ds, policy, detector, keep_pixels=True)
    return result.boxes, np.asarray(result.after).reshape(frames.shape)


def row(case: Case, template: pydicom.Dataset, count: int, policy: Policy, detector, own_text) -> dict:
    """One case scrubbed alone and in the middle frame of a still clip of ``count`` frames."""
    base = np.ascontiguousarray(template.pixel_array)
    shown = count // 2
    frames = np.stack([base] * count)
    frames[shown] = case.image
    clip = Case(case.group, case.condition, frames, case.glyphs, case.heights, range(shown, shown + 1))
    boxes, after = _scrubbed(template, case.image[None], policy, detector)
    alone = score(case, boxes, after, own_text)
    boxes, after = _scrubbed(template, frames, policy, detector)
    in_clip = score(clip, boxes, after, own_text)
    return {"group": case.group, "condition": case.condition, "heights": case.heights,
            "covered_alone": alone["covered"], "covered_in_clip": in_clip["covered"],
            "over_redaction_alone": alone["over_redaction"], "over_redaction_in_clip": in_clip["over_redaction"]}


def totals(rows: list[dict]) -> dict:
    """Labels removed per group, alone and in the clip."""
    out = {}
    for group in dict.fromkeys(r["group"] for r in rows):
        mine = [r for r in rows if r["group"] == group]
        out[group] = {"labels": sum(len(r["heights"]) for r in mine),
                      **{f"removed_{k}": sum(s >= COVERED for r in mine for s in r[f"covered_{k}"])
                         for k in ("alone", "in_clip")}}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", default="tissue,large", help="recall sweep groups drawn on US1")
    parser.add_argument("--frames", type=int, default=6, help="frames of the still clip")
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()
    policy = Policy(device="cpu", reuse_layouts=False)
    detector = detector_for(policy, default_threads(1))
    template = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm"))
    own_text = _annotated("US1_UNCR")
    wanted = set(args.groups.split(","))
    rows, started = [], time.perf_counter()
    for case in cases(np.ascontiguousarray(template.pixel_array)):
        if case.group in wanted:
            rows.append(row(case, template, args.frames, policy, detector, own_text))
            print(json.dumps(rows[-1]), flush=True)
    result = {"benchmark": "still clips", "date": date.today().isoformat(),
              "command": "benchmarks/still_clips.py " + " ".join(sys.argv[1:]), "machine": machine(),
              "versions": versions("onnxruntime", "opencv-python-headless", "pydicom", "numpy"),
              "totals": totals(rows) | {"seconds": round(time.perf_counter() - started, 1)}, "rows": rows}
    print(json.dumps(result["totals"]))
    save(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
