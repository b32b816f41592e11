"""The Dask runner's speed-up from 1 to 2 worker processes (issue 8), measured on this machine.

    .venv/bin/python benchmarks/dask_speedup.py [--files 16] [--layouts 4] [--json benchmarks/results/dask.json]

Inputs: ``--files`` copies of pydicom-data's US1_UNCR (one 640x480 RGB ultrasound frame), each with
new UIDs, spread over ``--layouts`` series whose Software Versions differ, so that they are that many
layouts. The Dask runner keeps a layout on one worker (same outputs as the local runner), so one
layout alone would give no speed-up: the layouts are what can run side by side.

Rows: detector threads "auto" (the default: the cores split between the workers, so 1 worker uses
every core) and 1 per worker (the processes alone scale). Each row is ``scrubber run --dask local
--workers N`` (the same LocalCluster and runner, called through the API so that the cluster start
and the model load in each worker are timed apart from the scrub). Outputs of every row are compared byte for byte. On a shared machine the numbers move
from run to run.
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from machine import machine, save, versions
from scrubber.api import Policy
from scrubber.dask import local_client, scrub_paths, warm_up


def make_inputs(folder: Path, files: int, layouts: int) -> None:
    """``files`` copies of US1_UNCR with new UIDs, in ``layouts`` series of distinct layouts."""
    source = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm"))
    series = [(generate_uid(), f"bench-{index}") for index in range(layouts)]
    for index in range(files):
        ds = copy.deepcopy(source)
        ds.SeriesInstanceUID, ds.SoftwareVersions = series[index % layouts]
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(folder / f"series{index % layouts}" / f"{index:04d}.dcm", enforce_file_format=True)


def run(inputs: Path, out: Path, workers: int, policy: Policy) -> dict:
    """One row: cluster start, model load in every worker, then the scrub (timed alone)."""
    started = time.perf_counter()
    with local_client(workers) as client:
        cluster_s = time.perf_counter() - started
        clock = time.perf_counter()
        detectors = warm_up(client, policy)
        load_s = time.perf_counter() - clock
        summary = scrub_paths([inputs], out, policy, client=client)
    row = {"workers": workers, "detector": sorted(set(detectors.values())), "files": len(summary.reports),
           "delivered": summary.count("delivered"), "cluster_start_s": round(cluster_s, 2),
           "model_load_s": round(load_s, 2), "scrub_s": round(summary.seconds, 2),
           "files_per_s": round(len(summary.reports) / summary.seconds, 2)}
    print(json.dumps(row), flush=True)
    return row


def same_outputs(first: Path, second: Path) -> bool:
    names = sorted(p.relative_to(first) for p in first.rglob("*.dcm"))
    return names == sorted(p.relative_to(second) for p in second.rglob("*.dcm")) and all(
        (first / name).read_bytes() == (second / name).read_bytes() for name in names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--layouts", type=int, default=4)
    parser.add_argument("--json", help="write the results here (e.g. benchmarks/results/dask.json)")
    args = parser.parse_args()
    policy = Policy(device="cpu", key=bytes(32))
    work = Path(tempfile.mkdtemp(prefix="scrubber-dask-bench-"))
    try:
        inputs = work / "in"
        for index in range(args.layouts):
            (inputs / f"series{index}").mkdir(parents=True)
        make_inputs(inputs, args.files, args.layouts)
        rows = []
        for threads in (0, 1):
            pol = policy.replace(threads=threads)
            rows += [dict(run(inputs, work / f"out{threads}-{n}", n, pol), detector_threads=threads or "auto")
                     for n in (1, 2)]
        identical = all(same_outputs(work / "out0-1", work / name) for name in ("out0-2", "out1-1", "out1-2"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {"command": " ".join(["benchmarks/dask_speedup.py", *sys.argv[1:]]), "date": date.today().isoformat(),
               "machine": machine(), "versions": versions("dask", "distributed", "onnxruntime", "pydicom"),
               "input": f"{args.files} copies of US1_UNCR (640x480 RGB, new UIDs) in {args.layouts} layouts",
               "rows": rows, "outputs_identical": identical,
               "speedup_2_over_1": round(rows[0]["scrub_s"] / rows[1]["scrub_s"], 2),
               "speedup_2_over_1_one_thread_each": round(rows[2]["scrub_s"] / rows[3]["scrub_s"], 2)}
    print(json.dumps({k: results[k] for k in ("speedup_2_over_1", "speedup_2_over_1_one_thread_each",
                                              "outputs_identical")}))
    save(args.json, results)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
