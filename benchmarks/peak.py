"""Run a command and write its peak memory: the largest resident set of it and its child processes.

    python benchmarks/peak.py RESULT.json -- COMMAND...

wait4's ru_maxrss counts, for a child forked from a large process, the pages the fork copied, so a
benchmark that has loaded a model would see its own size in every child. This launcher is a fresh,
small interpreter: its children start small, and what wait4 reports is theirs (for a command with
worker processes, the largest of the command and its workers).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> int:
    result, command = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w", encoding="utf-8") as fh:
        json.dump({"exit_code": code, "wall_s": time.perf_counter() - started,
                   "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
