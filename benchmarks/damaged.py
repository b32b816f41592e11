"""Damaged input: real test files cut, bit-flipped and given impossible header values, through the CLI.

    .venv/bin/python benchmarks/damaged.py [--seed 11] [--workers 2] [--json benchmarks/results/damaged.json]

Every damaged file must be delivered or quarantined with a reason: none may fail (an unexpected
error), end the batch, or print anything but scrubber's own one line per file to stderr (library
messages, warnings quoting header values, native backtraces). Every delivered file must pass our
own decode, frame checks included, so it can be scrubbed again. Which variants are delivered
depends on where the flips land: a flip inside pixel data that decodes consistently is delivered.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

from machine import machine, save, versions
from scrubber.pixels.decode import decode

SOURCES = ["US1_UNCR.dcm", "US1_J2KR.dcm", "US1_J2KI.dcm", "color3d_jpeg_baseline.dcm", "examples_ybr_color.dcm",
           "SC_rgb_rle.dcm", "JPEG-LL.dcm", "JPGExtended.dcm", "SC_rgb_jpeg_dcmtk.dcm", "MR_small.dcm", "CT_small.dcm",
           "OBXXXX1A.dcm", "gdcm-US-ALOKA-16.dcm", "examples_palette.dcm", "emri_small.dcm",
           "SC_rgb_jpeg_lossy_gdcm.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless_16.dcm",
           "SC_rgb_small_odd.dcm", "rtdose.dcm", "examples_rgb_color.dcm", "SC_ybr_full_uncompressed.dcm",
           "MR_small_RLE.dcm", "J2K_pixelrep_mismatch.dcm"]
VIDEO_SOURCES = {  # made here (no test file comes as video): color3d's first 24 frames encoded by FFmpeg
    "color3d_h264.dcm": "1.2.840.10008.1.2.4.102", "color3d_mpeg2.dcm": "1.2.840.10008.1.2.4.100",
    "color3d_hevc.dcm": "1.2.840.10008.1.2.4.107"}
HEADER_DAMAGE = (("Rows", 1), ("Columns", 65535), ("BitsAllocated", 12), ("BitsStored", 17), ("SamplesPerPixel", 2),
                 ("HighBit", 3), ("NumberOfFrames", 1000), ("PixelRepresentation", 1),
                 ("PhotometricInterpretation", "PALETTE COLOR"), ("PlanarConfiguration", 1))
OWN_LINE = re.compile(r"^(scrubber: |\[[#.]+\] )")  # scrubber's messages and its progress bar


def _flipped(data: bytes, rng: random.Random, start: int, stop: int, counts: tuple[int, ...]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice(counts)):
        at = rng.randrange(start, stop)
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def _sources(made: Path) -> list[tuple[str, Path]]:
    """(name, path) of every source: the test files, then the video clips written into ``made``."""
    import inputs as makers

    made.mkdir(exist_ok=True)
    frames = pydicom.dcmread(get_testdata_file("color3d_jpeg_baseline.dcm")).pixel_array[:24]
    for name, syntax in VIDEO_SOURCES.items():
        makers.video(frames, syntax).save_as(made / name, enforce_file_format=True)
    return [(name, Path(get_testdata_file(name))) for name in SOURCES] + [(n, made / n) for n in VIDEO_SOURCES]


def damaged_variants(folder: Path, seed: int) -> Counter:
    """Write the damaged copies of every source into ``folder``; how many of each kind."""
    rng = random.Random(seed)
    kinds: Counter = Counter()
    for name, path in _sources(folder.parent / "made"):
        data, stem = path.read_bytes(), name.removesuffix(".dcm")
        for index, share in enumerate((0.3, 0.7, 0.97, 0.999)):
            (folder / f"{stem}_cut{index}.dcm").write_bytes(data[:int(len(data) * share)])
            kinds["cut"] += 1
        for index in range(4):  # mostly pixel data
            (folder / f"{stem}_flip{index}.dcm").write_bytes(_flipped(data, rng, len(data) // 5, len(data), (1, 3, 20)))
            kinds["flipped pixel data"] += 1
        for index in range(6):  # the header, after the preamble
            (folder / f"{stem}_hflip{index}.dcm").write_bytes(_flipped(data, rng, 132, min(len(data), 2000), (1, 2, 4)))
            kinds["flipped header"] += 1
        for index, (keyword, value) in enumerate(HEADER_DAMAGE):
            ds = pydicom.dcmread(path)
            try:
                setattr(ds, keyword, value)
                ds.save_as(folder / f"{stem}_value{index}.dcm")
                kinds["impossible value"] += 1
            except Exception:  # noqa: BLE001 - pydicom refuses to write this one: not an input
                pass
    return kinds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inputs, out = Path(tmp) / "in", Path(tmp) / "out"
        inputs.mkdir()
        kinds = damaged_variants(inputs, args.seed)
        started = time.perf_counter()
        run = subprocess.run([str(Path(sys.executable).parent / "scrubber"), "run", str(inputs), "-o", str(out),
                              "--workers", str(args.workers), "--device", "cpu"],
                             capture_output=True, text=True, errors="replace")
        seconds = time.perf_counter() - started
        audit = [json.loads(line) for line in Path(f"{out}.audit.jsonl").read_text().splitlines()]
        foreign = [line for line in run.stderr.splitlines() if line.strip() and not OWN_LINE.match(line)]
        undecodable, outputs = [], sorted(out.rglob("*.dcm"))
        for path in outputs:
            try:
                decode(pydicom.dcmread(path), 1 << 30)
            except Exception as exc:  # noqa: BLE001 - counted, named below
                undecodable.append(f"{path.name}: {type(exc).__name__}")
    decisions = Counter(r["decision"] for r in audit)
    result = {
        "benchmark": "damaged", "date": date.today().isoformat(),
        "command": "benchmarks/damaged.py " + " ".join(sys.argv[1:]), "machine": machine(),
        "versions": versions("pydicom", "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle",
                             "imagecodecs", "av"),
        "seed": args.seed, "sources": len(SOURCES) + len(VIDEO_SOURCES), "inputs": sum(kinds.values()),
        "kinds": dict(kinds),
        "exit_code": run.returncode, "seconds": round(seconds, 1), "decisions": dict(decisions),
        "reasons": dict(Counter(r["reason_code"] for r in audit if r["decision"] != "delivered")),
        "failed": [r.get("reason", "") for r in audit if r["decision"] == "failed"],
        "foreign_stderr_lines": len(foreign), "foreign_stderr_sample": foreign[:5],
        "outputs": len(outputs), "delivered_not_decodable": undecodable,
    }
    print(json.dumps(result, indent=1))
    save(args.json, result)
    ok = (not result["failed"] and not foreign and not undecodable and len(audit) == result["inputs"]
          and len(outputs) == decisions["delivered"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
