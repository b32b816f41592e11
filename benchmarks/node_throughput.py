"""Instances per second through the DICOM node (issue 8): storescu -> scrubber serve -> storescp.

    .venv/bin/python benchmarks/node_throughput.py [--workers 1 2] [--sc 20] [--us 4] [--json PATH]

All on loopback, dcmtk at both ends (storescp --fork +xa), the real CLI in a subprocess.
For each scrub worker count one node is started (start-up and model load are not timed, one
warm-up instance of each kind is sent and delivered first), then each case is sent in one
storescu run and timed from the start of the send until the last instance is at the destination:
- sc: small Secondary Capture images (128x128, 8 bit, a line of burned-in text that differs in
  each), one layout, so the node's layout reuse applies as it does to a real series;
- us: a 640x480 ultrasound frame (pydicom-data's US1_UNCR) under new UIDs, each with its own
  software version, so that none reuses another's layout: every frame is searched in full.
``accept_s`` is how long storescu took, i.e. the node's receive-and-spool speed alone.
"""
from __future__ import annotations

import argparse
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from inputs import secondary_capture
from machine import machine, save, versions

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def sc_image(path: Path, index: int) -> None:
    pixels = np.full((128, 128), 30, np.uint8)
    cv2.putText(pixels, f"ID {100000 + index}", (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 255, 1)
    secondary_capture(pixels, "DOE^JANE", "BENCH1").save_as(path, enforce_file_format=True)


def us_frame(path: Path, index: int) -> None:
    ds = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm"))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SoftwareVersions = f"bench-{index}"  # a layout of its own: no reuse between frames
    ds.save_as(path, enforce_file_format=True)


MAKERS = {"sc": sc_image, "us": us_frame}
_serial = itertools.count()  # every instance of a run is new: no software version or text repeats


def count(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file())


def run_case(root: Path, port: int, dest: Path, kind: str, n: int, tag: str) -> dict:
    files = root / f"{kind}-{tag}"
    files.mkdir()
    for i in range(n):
        MAKERS[kind](files / f"{i}.dcm", next(_serial))
    before = count(dest)
    started = time.perf_counter()
    subprocess.run(["storescu", "-aet", "BENCH", "-aec", "SCRUBBER", "127.0.0.1", str(port), "+sd", str(files)],
                   check=True, capture_output=True, timeout=600)
    accepted = time.perf_counter() - started
    wait_for(lambda: count(dest) >= before + n, 1800, f"{n} {kind} instances at the destination")
    seconds = time.perf_counter() - started
    return {"instances": n, "seconds": round(seconds, 2), "instances_per_s": round(n / seconds, 3),
            "accept_s": round(accepted, 2)}


def node_run(root: Path, workers: int, sizes: dict[str, int]) -> dict:
    work = root / f"w{workers}"
    dest = work / "dest"
    dest.mkdir(parents=True)
    dport, nport = free_port(), free_port()
    peer = subprocess.Popen(["storescp", "--fork", "+xa", "+uf", "-aet", "DEST", "-od", str(dest), str(dport)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = (work / "serve.log").open("w")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    node = subprocess.Popen([sys.executable, "-m", "scrubber.cli", "serve", "--bind", "127.0.0.1", "--port", str(nport),
                             "--forward", f"DEST@127.0.0.1:{dport}", "--spool", str(work / "spool"),
                             "--workers", str(workers), "--device", "cpu"], env=env, stdout=log, stderr=log)
    try:
        wait_for(lambda: "listening on" in (work / "serve.log").read_text(), 300, "the node to listen")
        results = {}
        for kind, n in sizes.items():
            run_case(work, nport, dest, kind, 1, "warm")
            results[kind] = run_case(work, nport, dest, kind, n, "timed")
            print(f"workers {workers} {kind}: {results[kind]}", flush=True)
        return results
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=300)
        log.close()
        os.killpg(peer.pid, signal.SIGTERM)
        peer.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sc", type=int, default=20, help="small SC instances per timed run")
    parser.add_argument("--us", type=int, default=4, help="640x480 US instances per timed run")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "node.json"))
    args = parser.parse_args()
    if any(shutil.which(t) is None for t in ("storescu", "storescp")):
        print("node_throughput: dcmtk (storescu, storescp) is needed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="scrubber-node-bench-") as tmp:
        rows = {str(w): node_run(Path(tmp), w, {"sc": args.sc, "us": args.us}) for w in args.workers}
    save(args.json, {"date": date.today().isoformat(), "machine": machine(),
                     "versions": versions("pynetdicom", "onnxruntime", "pydicom"),
                     "setup": "storescu -> scrubber serve --forward -> storescp --fork, loopback, --device cpu",
                     "workers": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
