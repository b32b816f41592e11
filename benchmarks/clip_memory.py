"""Peak memory of `scrubber run` against the length of a clip: what a worker needs for a long one.

    .venv/bin/python benchmarks/clip_memory.py [--json benchmarks/results/clip-memory.json]

The clips are pydicom-data's color3d (640x480 RGB, text burned into every frame) played forwards
and backwards to 120, 480 and 960 frames, as JPEG baseline (its own fragments) and written out
natively (Explicit VR Little Endian). Each runs alone in a fresh process with one worker and the
default device under `peak.py` (the largest resident set of the command and its children). The
cost that grows with the clip is the slope between the two longest of a syntax, in MB per MB of
decoded frames; the rest is the process, its model and what every file needs. `PYTHONPATH` set to another checkout
measures that checkout's code with the same inputs (how the "before" rows were made).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import inputs  # noqa: E402
from machine import machine, save, versions  # noqa: E402

HERE = Path(__file__).resolve().parent
CASES = (("JPEG baseline", 120), ("JPEG baseline", 480), ("JPEG baseline", 960),
         ("Explicit VR Little Endian", 120), ("Explicit VR Little Endian", 480))


def _clip(syntax: str, frames: int) -> pydicom.Dataset:
    clip = inputs.first_frames(pydicom.dcmread(get_testdata_file("color3d_jpeg_baseline.dcm")), frames)
    return clip if syntax == "JPEG baseline" else inputs.native(clip)


def _commit() -> str:
    where = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or str(HERE.parent)
    done = subprocess.run(["git", "-C", where, "describe", "--always", "--dirty"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def measure(syntax: str, frames: int, folder: Path) -> dict:
    ds = _clip(syntax, frames)
    source = folder / f"clip-{frames}.dcm"
    ds.save_as(source, enforce_file_format=True)
    peak = folder / "peak.json"
    command = [sys.executable, "-m", "scrubber.cli", "run", str(source), "-o", str(folder / f"out-{frames}"),
               "--workers", "1"]  # the default device, as a user runs it
    subprocess.run([sys.executable, str(HERE / "peak.py"), str(peak), "--", *command], cwd=folder,  # not ./scrubber
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = json.loads(peak.read_text())
    decoded = frames * int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel)
    row = {"syntax": syntax, "frames": frames, "file_mb": round(source.stat().st_size / 2**20, 1),
           "decoded_mb": round(decoded / 2**20, 1), "peak_rss_mb": result["peak_rss_mb"],
           "wall_s": round(result["wall_s"], 1), "delivered": result["exit_code"] == 0}
    source.unlink()
    print(json.dumps(row), flush=True)
    return row


def slopes(rows: list[dict]) -> dict[str, float]:
    """MB of peak memory per MB of decoded frames, between the two longest clips of each syntax."""
    out = {}
    for syntax in dict.fromkeys(r["syntax"] for r in rows):
        first, last = sorted((r for r in rows if r["syntax"] == syntax), key=lambda r: r["frames"])[-2:]
        grown = last["peak_rss_mb"] - first["peak_rss_mb"]
        out[syntax] = round(grown / (last["decoded_mb"] - first["decoded_mb"]), 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(syntax, frames, Path(tmp)) for syntax, frames in CASES]
    print(json.dumps(slopes(rows)))
    save(args.json, {"benchmark": "clip-memory", "date": date.today().isoformat(),
                     "command": " ".join(["benchmarks/clip_memory.py", *sys.argv[1:]]), "code": _commit(),
                     "machine": machine(), "versions": versions("scrubber", "pydicom", "numpy", "onnxruntime"),
                     "rows": rows, "mb_per_decoded_mb": slopes(rows)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
