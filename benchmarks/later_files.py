"""What a later file of a series costs: ``scrub_dataset`` over the files of one layout after its first.

    .venv/bin/python benchmarks/later_files.py [--files 60] [--warm 6] [--profile]

The files of ``inputs.series_datasets`` (color3d's frames, one file each, JPEG kept), layout reuse
on, one process and one thread pool: the first ``--warm`` files are scrubbed first (the layout's
reference and a warm model), then the rest are timed, whole and per stage (ms a file). With
``--profile``, cProfile's 25 costliest functions by their own time. To set two versions of the
code side by side, run it from each checkout in turn, alternating (the machine is noisy).
"""
from __future__ import annotations

import argparse
import copy
import cProfile
import pstats
import sys
import time
from collections import Counter

from inputs import series_datasets
from scrubber.detect.ocr import default_threads
from scrubber.detect.registry import detector_for
from scrubber.pipeline import scrub_dataset
from scrubber.policy import Policy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=60, help="files of the series, the warm ones included")
    parser.add_argument("--warm", type=int, default=6, help="files scrubbed before the timed ones")
    parser.add_argument("--profile", action="store_true", help="print cProfile's costliest functions")
    args = parser.parse_args()
    policy = Policy(device="cpu", reuse_layouts=True)
    detector = detector_for(policy, default_threads(1))
    files = series_datasets(args.files)
    for ds in files[:args.warm]:
        scrub_dataset(copy.deepcopy(ds), policy, detector)
    later = [copy.deepcopy(ds) for ds in files[args.warm:]]
    stages: Counter[str] = Counter()
    profile = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profile:
        profile.enable()
    for ds in later:
        stages.update(scrub_dataset(ds, policy, detector).timings)
    if profile:
        profile.disable()
    whole = (time.perf_counter() - started) / len(later)
    print(f"{len(later)} later files: {1000 * whole:.1f} ms a file; "
          + ", ".join(f"{stage} {1000 * seconds / len(later):.1f}" for stage, seconds in stages.items()))
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
