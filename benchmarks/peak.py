"""Run a command and write its peak memory: the largest resident set of it and its child processes,
and the peak of their sum.

    python benchmarks/peak.py RESULT.json -- COMMAND...

wait4's ru_maxrss counts, for a child forked from a large process, the pages the fork copied, so a
benchmark that has loaded a model would see its own size in every child. This launcher is a fresh,
small interpreter: its children start small, and what wait4 reports is theirs (for a command with
worker processes, the largest of the command and its workers: ``peak_rss_mb``). What a machine
must hold is the sum over the command and its workers at once: ``peak_summed_rss_mb`` samples it
every 50 ms (the command runs in a session of its own; a peak shorter than that may be missed).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def summed_rss(session: int) -> int:
    """Bytes resident in every process of ``session`` now (Linux /proc)."""
    total = 0
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and os.getsid(int(name)) == session:
                with open(f"/proc/{name}/statm", encoding="ascii") as statm:
                    total += int(statm.read().split()[1]) * PAGE
        except (OSError, ValueError):  # gone meanwhile, or not ours to read
            continue
    return total


def main() -> int:
    result, command = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    started = time.perf_counter()
    process = subprocess.Popen(command, start_new_session=True)
    peak, ended = [0], threading.Event()

    def sample() -> None:
        while not ended.is_set():
            peak[0] = max(peak[0], summed_rss(process.pid))
            ended.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    ended.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w", encoding="utf-8") as fh:
        json.dump({"exit_code": code, "wall_s": time.perf_counter() - started,
                   "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                   "peak_summed_rss_mb": round(peak[0] / 2**20, 1)}, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
