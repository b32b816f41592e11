"""Backends: torch against ONNX (onnxruntime) CRAFT, time per frame and whether the boxes are the same.

    .venv/bin/python benchmarks/backends.py [--json benchmarks/results/backends.json] [--boxes] [--variants]

Speed: the detector call (pre-processing, network, boxes) and the network alone, on one 640x480 frame
(pydicom-data US1_UNCR) and one 1024x768 frame (JPGLosslessP14SV1_1s_1f_8b), scrubber's "full"
rendering, threads=2 for both backends, median of 5 after one warm-up call; the backends alternate
call by call so that load on a shared machine hits both alike. Ratios are torch / onnx.

``--boxes``: every annotated file (sample_data/truth.json + tests/annotations) through the pipeline's
detection (``find_text`` over the default Policy's renderings and the closer look, then
``plan_boxes``) with each backend: are the detections and the boxes to black out equal to torch's?

``--variants``: experiments with CRAFT reading whole images (``--text-model craft``), not shipped
for that: the ONNX model quantised to int8 (onnxruntime dynamic
quantisation, ConvInteger; static QDQ quantisation, per-channel weights, MinMax calibration on eight
annotated single frames with text; the closer looks at lone characters use scrubber's own 8-bit
model, ``scrubber.models.quantize``) and converted to fp16 (onnxruntime.transformers.float16, float32 input and
output kept): speed as above and, with ``--boxes``, the same box check on the single frames (the
clips only while every frame matched) with the share of torch's box pixels a variant leaves
uncovered and the share it blacks out beyond them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from machine import machine, save
from scrubber.detect.craft_post import CraftBase, prepare
from scrubber.detect.find import find_text
from scrubber.detect.models import sha256
from scrubber.detect.ocr import CraftDetector
from scrubber.detect.onnx_craft import OnnxCraftDetector, ensure_model, session_options
from scrubber.pipeline import plan_boxes
from scrubber.pixels import render
from scrubber.pixels.decode import decode
from scrubber.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2
REPEATS = 5
FRAMES = ("US1_UNCR.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm")
CALIBRATION = ("US1_UNCR.dcm", "OBXXXX1A.dcm", "examples_palette.dcm", "gdcm-US-ALOKA-16.dcm", "sc_screenshot.dcm",
               "sc_form.dcm", "us_single.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm")
PACKAGES = ("torch", "torchvision", "easyocr", "onnxruntime", "onnx", "numpy", "opencv-python-headless", "pydicom")


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


class RawOnnx(CraftBase):
    """An experimental ONNX file (no sidecar, no metadata check) with the shipped session settings."""

    def __init__(self, path: Path, policy: Policy) -> None:
        import onnxruntime as ort

        super().__init__(policy.text_threshold, policy.low_text, policy.link_threshold, policy.min_long_side)
        self.session = ort.InferenceSession(str(path), session_options(THREADS), providers=["CPUExecutionProvider"])

    def scores(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"image": batch})[0]


def full_frames(path: Path) -> tuple[np.ndarray, np.ndarray | None, pydicom.Dataset]:
    ds = pydicom.dcmread(path)
    frames = decode(ds, Policy().max_samples)
    return render.full(frames, ds), render.window(frames, ds), ds


def annotated_files() -> list[Path]:
    """The annotated set, single frames first, clips last."""
    names = json.loads((ROOT / "sample_data" / "truth.json").read_text())["files"]
    paths = [ROOT / "sample_data" / "dicom" / name for name in names]
    paths += [Path(get_testdata_file(f"{p.stem}.dcm")) for p in sorted((ROOT / "tests" / "annotations").glob("*.json"))]
    frames = {p: int(getattr(pydicom.dcmread(p, stop_before_pixels=True), "NumberOfFrames", 1) or 1) for p in paths}
    return sorted(paths, key=lambda p: (frames[p], p.name))


def speed(detectors: dict[str, CraftBase]) -> list[dict]:
    rows = []
    for name in FRAMES:
        image = full_frames(Path(get_testdata_file(name)))[0][0]
        batch, _ = prepare([image], 1.0)
        calls = {"detect": lambda d: d([image]), "network": lambda d: d.scores(batch)}
        reference = detectors["torch"].scores(batch)
        differences = {label: float(np.abs(d.scores(batch) - reference).max()) for label, d in detectors.items()}
        for what, call in calls.items():
            times: dict[str, list[float]] = {label: [] for label in detectors}
            for detector in detectors.values():
                call(detector)  # warm-up
            for _ in range(REPEATS):
                for label, detector in detectors.items():
                    started = time.perf_counter()
                    call(detector)
                    times[label].append(1000 * (time.perf_counter() - started))
            for label, values in times.items():
                rows.append({"image": name, "size": f"{image.shape[1]}x{image.shape[0]}", "stage": what,
                             "backend": label, "median_ms": round(statistics.median(values), 1),
                             "max_score_difference_to_torch": float(f"{differences[label]:.3g}"),
                             "all_ms": [round(v, 1) for v in values]})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    out = []
    for name in FRAMES:
        for stage in ("detect", "network"):
            found = {r["backend"]: r["median_ms"] for r in rows if r["image"] == name and r["stage"] == stage}
            out.append({"image": name, "stage": stage,
                        **{f"torch/{label}": round(found["torch"] / ms, 2) for label, ms in found.items()
                           if label != "torch"}})
    return out


def detect_all(detector: CraftBase, files: list[Path], reference: dict | None, policy: Policy) -> dict:
    """Detections and planned boxes per file; compared with ``reference`` (torch's) when given."""
    per_file, mismatch = {}, False
    for path in files:
        full, window, _ = full_frames(path)
        if mismatch and full.shape[0] > 1:
            per_file[path.name] = {"skipped": "a clip, and a single frame already differs"}
            continue
        started = time.perf_counter()
        found = find_text(full, window if "window" in policy.renderings else None, policy, detector)
        boxes = plan_boxes(found, full.shape[2], full.shape[1], policy)
        entry = {"frames": len(found), "seconds": round(time.perf_counter() - started, 1),
                 "detections": [sorted([*d.box, d.detector, d.rendering] for d in frame) for frame in found],
                 "boxes": [[list(b) for b in frame] for frame in boxes]}
        if reference is not None:
            ref = reference[path.name]
            entry["same_detections"] = entry["detections"] == ref["detections"]
            entry["same_boxes"] = entry["boxes"] == ref["boxes"]
            entry["frames_with_other_boxes"] = sum(a != b for a, b in zip(entry["boxes"], ref["boxes"]))
            entry.update(coverage(entry["boxes"], ref["boxes"], full.shape[1], full.shape[2]))
            mismatch = mismatch or (not entry["same_boxes"] and detector_is_variant(detector))
        per_file[path.name] = entry
        print(json.dumps({"file": path.name, "backend": getattr(detector, "label", "?"),
                          **{k: v for k, v in entry.items() if k not in ("detections", "boxes")}}), flush=True)
    return per_file


def summarise(per_file: dict, reference: bool) -> dict:
    """Files checked, seconds; for a backend other than torch: files equal to torch's, worst shares."""
    out: dict = {"files": len(per_file), "seconds": round(sum(e.get("seconds", 0) for e in per_file.values()), 1)}
    if not reference:
        out.update(same_boxes=sum(1 for e in per_file.values() if e.get("same_boxes")),
                   same_detections=sum(1 for e in per_file.values() if e.get("same_detections")),
                   skipped=sum(1 for e in per_file.values() if "skipped" in e),
                   max_missed_share=max((e.get("missed_share", 0) for e in per_file.values()), default=0),
                   max_extra_share=max((e.get("extra_share", 0) for e in per_file.values()), default=0))
    return out


def coverage(boxes: list, reference: list, height: int, width: int) -> dict[str, float]:
    """Pixels of torch's boxes (union over frames) left uncovered, and pixels blacked out beyond
    them, each as a share of torch's box pixels (0 and 0 when the boxes are equal)."""
    def mask(per_frame: list) -> np.ndarray:
        out = np.zeros((len(per_frame), height, width), bool)
        for index, frame in enumerate(per_frame):
            for x0, y0, x1, y1 in frame:
                out[index, y0:y1, x0:x1] = True
        return out

    ours, theirs = mask(boxes), mask(reference)
    total = max(int(theirs.sum()), 1)
    return {"missed_share": round(float((theirs & ~ours).sum()) / total, 4),
            "extra_share": round(float((ours & ~theirs).sum()) / total, 4)}


def detector_is_variant(detector: CraftBase) -> bool:
    return isinstance(detector, RawOnnx)


def build_variants(fp32: Path, folder: Path, files: list[Path]) -> dict[str, Path | str]:
    """int8 dynamic, int8 static (QDQ), fp16 versions of the fp32 model; an error text where one fails."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from onnxruntime.transformers.float16 import convert_float_to_float16

    made: dict[str, Path | str] = {}
    pre = folder / "pre.onnx"
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)

    def attempt(label: str, build) -> None:
        started = time.perf_counter()
        try:
            made[label] = build()
            print(f"built {label} in {time.perf_counter() - started:.0f} s", flush=True)
        except Exception as exc:  # an experiment: record why it failed
            made[label] = f"{type(exc).__name__}: {exc}"[:500]
            print(f"{label} failed: {made[label]}", flush=True)

    def dynamic() -> Path:
        out = folder / "int8_dynamic.onnx"
        quantize_dynamic(str(pre), str(out), weight_type=QuantType.QUInt8)
        return out

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            images = [full_frames(p)[0][0] for p in files if p.name in CALIBRATION]
            self.items = iter([{"image": prepare([image], 1.0)[0]} for image in images])

        def get_next(self):
            return next(self.items, None)

    def static() -> Path:
        out = folder / "int8_static.onnx"
        quantize_static(str(pre), str(out), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        return out

    def fp16() -> Path:
        out = folder / "fp16.onnx"
        onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(out))
        return out

    attempt("onnx-int8-dynamic", dynamic)
    attempt("onnx-int8-static", static)
    attempt("onnx-fp16", fp16)
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write results here")
    parser.add_argument("--boxes", action="store_true", help="compare the boxes on the annotated set")
    parser.add_argument("--variants", action="store_true", help="also int8 / fp16 experiments")
    args = parser.parse_args()
    policy = Policy(device="cpu")
    settings = dict(text_threshold=policy.text_threshold, low_text=policy.low_text,
                    link_threshold=policy.link_threshold, min_long_side=policy.min_long_side)
    model = ensure_model()
    detectors: dict[str, CraftBase] = {"torch": CraftDetector("cpu", THREADS, **settings),
                                       "onnx": OnnxCraftDetector(THREADS, **settings, model_path=model)}
    files = annotated_files()
    variants: dict[str, Path | str] = {}
    with tempfile.TemporaryDirectory(prefix="scrubber-variants-") as temp:
        if args.variants:
            variants = build_variants(model, Path(temp), files)
            for label, built in variants.items():
                if isinstance(built, Path):
                    try:
                        detectors[label] = RawOnnx(built, policy)
                    except Exception as exc:
                        variants[label] = f"{type(exc).__name__}: {exc}"[:500]
        for label, detector in detectors.items():
            detector.label = label
        rows = speed(detectors)
        boxes: dict[str, dict] = {}
        if args.boxes:
            reference = detect_all(detectors["torch"], files, None, policy)
            boxes["torch"] = reference
            for label, detector in detectors.items():
                if label != "torch":
                    boxes[label] = detect_all(detector, files, reference, policy)
        sizes = {label: built.stat().st_size for label, built in variants.items() if isinstance(built, Path)}
    summary = {label: summarise(per_file, label == "torch") for label, per_file in boxes.items()}
    results = {
        "benchmark": "backends", "date": date.today().isoformat(),
        "command": " ".join([".venv/bin/python benchmarks/backends.py", *sys.argv[1:]]),
        "machine": machine(), "versions": {name: _version(name) for name in PACKAGES},
        "threads": THREADS, "repeats": REPEATS,
        "model": {"file": model.name, "sha256": sha256(model), "bytes": model.stat().st_size},
        "variants": {label: (f"{sizes[label]} bytes" if isinstance(built, Path) else f"failed: {built}")
                     for label, built in variants.items()},
        "speed": rows, "ratios": ratios(rows), "boxes_summary": summary,
        "boxes": {label: {name: {k: v for k, v in entry.items() if k not in ("detections", "boxes")}
                          | ({"detections": sum(map(len, entry["detections"])),
                              "boxes": sum(map(len, entry["boxes"]))} if "boxes" in entry else {})
                          for name, entry in per_file.items()} for label, per_file in boxes.items()},
    }
    print(json.dumps({"ratios": results["ratios"], "boxes_summary": summary}, indent=1))
    save(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
