"""How many workers a run gets when it is not told (``--workers auto``), and which files they may
scrub side by side.

Worker processes use a CPU's cores better than one process's threads (1.45-2x the frames/s on two
cores, benchmarks/README.md), but each costs a second or two to start and load the networks, and
memory: about 300 MB, and at its peak about two to four bytes more for each byte of a file's
frames decoded (benchmarks/clip_memory.py: a 120-frame 640x480 clip 0.7 GB, 960 frames 2.4 GB).
So a run gets one worker per core, no more than the memory holds at 1.5 GB each, and no more than
its work repays: one per four units of input, a unit being a file or a MiB of it (a compressed
clip weighs what it holds). Long clips side by side could still exhaust the memory: a
``MemoryGate`` holds a file back while those under way would not leave room for it.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

AUTO = "auto"
WORKER_MEMORY = 3 << 29  # 1.5 GiB: a worker's peak on a 120-frame clip, with room for larger ones
WORKER_BASE = 1 << 29  # 512 MiB: a worker before its file (process, libraries, networks), with room
CLIP_BYTES = 5  # a worker's peak grows by this many bytes per byte of its file decoded (2.3-3.3 measured
# for JPEG baseline and native clips; codecs that re-encode frames read the whole file back)
LOOKAHEAD = 64  # ready tasks looked through for one that fits while the first does not
UNITS_PER_WORKER = 4  # files or MiB of input that repay starting a worker
CARD_THREADS = 8  # on a GPU, threads sharing one model: enough to keep its joined passes full
T = TypeVar("T")


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


def input_sizes(paths: Sequence[T], size_of: Callable[[T], int]) -> list[int] | None:
    """The sizes ``auto_workers`` needs of a job's files: none for a job of so many files that,
    each a unit at least, they repay every core already (a large archive is not statted file by
    file before it starts; on a network share that is a pass over all of it)."""
    if len(paths) >= UNITS_PER_WORKER * usable_cores():
        return None
    return [size_of(path) for path in paths]


def _memory(cap: int | None) -> int | None:
    """What a run may use: the memory available, no more than ``cap`` (``--memory``)."""
    memory = available_memory()
    return cap if memory is None else memory if cap is None else min(memory, cap)


def auto_workers(sizes: Sequence[int] | None = None, on_card: bool = False, cap: int | None = None) -> int:
    """Workers for a run over files of ``sizes`` bytes (None: a stream of unknown length, such as
    a DICOM node's, or more files than the cores need, ``input_sizes``): processes on the CPU, or
    threads sharing one model ``on_card``; ``cap``: the most memory the run may use."""
    limit = min(usable_cores(), CARD_THREADS) if on_card else usable_cores()
    memory = _memory(cap)
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


def memory_budget(workers: int, cap: int | None = None) -> int | None:
    """What the files under way in a run of ``workers`` may take together on this machine: the
    memory available now (no more than ``cap``) less each worker's base; None where unknown."""
    memory = _memory(cap)
    return None if memory is None else max(0, memory - workers * WORKER_BASE)


def scaled(number: str, unit: str) -> int:
    """``number`` times 1024 to the power of ``unit``'s place in K, M, G, T ("" for none)."""
    return int(float(number) * 1024 ** " KMGT".index(unit.upper() or " "))


def parse_memory(text: str) -> int:
    """``--memory``: bytes, or a number with K, M, G or T (powers of 1024), such as 8G or 1.5G."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"--memory takes a size such as 8G or 512M, not {text!r}")
    size = scaled(match.group(1), match.group(2))
    if size < WORKER_BASE:
        raise ValueError(f"--memory must leave a worker at least {WORKER_BASE >> 20} MB")
    return size


class _Task(Protocol):
    jobs: list


class MemoryGate:
    """Which of the ready tasks may be handed to a worker now. A task weighs ``CLIP_BYTES`` times
    the decoded size of its largest file; tasks under way (handed to the pool) may weigh ``budget``
    together (``memory_budget``; None: no limit). A task always starts when nothing is under way,
    however much it weighs, so a file larger than the budget is still scrubbed, alone. Skipping
    ahead to a task that fits changes no output (``grouping``)."""

    def __init__(self, budget: int | None, sizes: Mapping[int, int]) -> None:
        self.budget, self.sizes = budget, sizes

    def weight(self, task: _Task) -> int:
        return CLIP_BYTES * max((self.sizes.get(id(job), 0) for job in task.jobs), default=0)

    def pick(self, ready: Sequence[_Task], under_way: Iterable[_Task]) -> int | None:
        """The index in ``ready`` of the first task that fits beside ``under_way``, or None."""
        if not ready:
            return None
        under_way = list(under_way)
        if self.budget is None or not under_way:
            return 0
        room = self.budget - sum(self.weight(task) for task in under_way)
        for index in range(min(len(ready), LOOKAHEAD)):
            if self.weight(ready[index]) <= room:
                return index
        return None
