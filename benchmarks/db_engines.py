"""DB's two engines side by side: onnxruntime (the CPU) against its graph in torch (torch_graph).

    .venv/bin/python benchmarks/db_engines.py [--device cpu|cuda] [--json benchmarks/results/db-engines.json]

One network pass (DB's input at scale 1, the training normalisation) on a 640x480 US frame
(US1_UNCR), a 1024x768 frame (JPGLosslessP14SV1_1s_1f_8b) and a batch of eight US1 frames (a
layout's files joined on a card), medians of --repeat passes after a warm-up, the engines
alternating pass by pass so a busy machine hits both alike; torch runs on --device. Also the
largest difference between the two engines' probabilities, and how many steps the fused graph runs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from machine import machine, save, versions
from scrubber.detect.db import DbDetector, _input, model_bytes
from scrubber.detect.torch_graph import TorchGraph

THREADS = 2
INPUTS = (("US1_UNCR.dcm", 1), ("JPGLosslessP14SV1_1s_1f_8b.dcm", 1), ("US1_UNCR.dcm", 8))


def _rgb(name: str) -> np.ndarray:
    pixels = pydicom.dcmread(get_testdata_file(name)).pixel_array
    return np.ascontiguousarray(np.repeat(pixels[..., None], 3, 2) if pixels.ndim == 2 else pixels[..., :3])


def rows(graph: TorchGraph, repeat: int) -> list[dict]:
    """One row per input: each engine's median pass (``graph``, DB in torch on its device, against
    onnxruntime on the CPU), and the largest difference between them."""
    import torch

    torch.set_num_threads(THREADS)
    onnx, device = DbDetector(THREADS), graph.device
    out = []
    for name, count in INPUTS:
        batch = _input([_rgb(name)] * count, 1.0, trained=True)
        engines = {"onnxruntime (cpu)": onnx.network, f"torch ({device})": graph}
        difference = float(np.abs(engines["onnxruntime (cpu)"](batch) - graph(batch)).max())
        times: dict[str, list[float]] = {label: [] for label in engines}
        for _ in range(repeat):
            for label, network in engines.items():
                started = time.perf_counter()
                network(batch)
                times[label].append(1000 * (time.perf_counter() - started))
        medians = {label: round(statistics.median(values), 1) for label, values in times.items()}
        ratio = medians[f"torch ({device})"] / medians["onnxruntime (cpu)"]
        out.append({"input": f"{name} x {count}", "network_pixels": int(np.prod(batch.shape)) // 3,
                    "median_ms": medians, "torch_over_onnxruntime": round(ratio, 2),
                    "max_probability_difference": float(f"{difference:.3g}")})
        print(json.dumps(out[-1]), flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()
    graph = TorchGraph(model_bytes()[1], args.device)
    results = {"benchmark": "db-engines", "date": date.today().isoformat(),
               "command": " ".join([".venv/bin/python benchmarks/db_engines.py", *sys.argv[1:]]),
               "machine": machine(),
               "versions": versions("torch", "onnxruntime", "onnx", "numpy"), "threads": THREADS, "device": args.device,
               "fused_steps": len(graph.steps), "rows": rows(graph, args.repeat)}
    save(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
