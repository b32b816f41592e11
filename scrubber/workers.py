"""How many workers a run gets when it is not told: ``--workers auto``.

Worker processes use a CPU's cores better than one process's threads (1.45-2x the frames/s on two
cores, benchmarks/README.md), but each costs a second or two to start and load the networks, and
up to about a gigabyte at its peak (a 120-frame 640x480 clip: 1.04 GB). So a run gets one worker
per core, no more than the memory holds at that peak, and no more than its work repays: one per
four units of input, a unit being a file or a MiB of it (a compressed clip weighs what it holds).
"""
from __future__ import annotations

import os
from collections.abc import Sequence

AUTO = "auto"
WORKER_MEMORY = 3 << 29  # 1.5 GiB: a worker's peak on a 120-frame clip, with room for larger ones
UNITS_PER_WORKER = 4  # files or MiB of input that repay starting a worker
CARD_THREADS = 8  # on a GPU, threads sharing one model: enough to keep its joined passes full


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the system says), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes of memory available to new processes (Linux's MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def auto_workers(sizes: Sequence[int] | None = None, on_card: bool = False) -> int:
    """Workers for a run over files of ``sizes`` bytes (None: a stream of unknown length, such as
    a DICOM node's): processes on the CPU, or threads sharing one model ``on_card``."""
    limit = min(usable_cores(), CARD_THREADS) if on_card else usable_cores()
    memory = available_memory()
    if memory is not None:
        limit = min(limit, memory // WORKER_MEMORY)
    if sizes is not None:
        units = sum(max(1, size >> 20) for size in sizes)
        limit = min(limit, units // UNITS_PER_WORKER)
    return max(1, limit)


def parse_workers(text: str) -> int | str:
    """``--workers``: a count of at least 1, or "auto"."""
    if text == AUTO:
        return AUTO
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"--workers takes a number or auto, not {text!r}") from None
    if count < 1:
        raise ValueError("--workers must be at least 1")
    return count
