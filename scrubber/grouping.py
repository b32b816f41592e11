"""Files grouped by layout, so that a parallel run gives the boxes of the serial run.

The serial runner scrubs files in walk order, and a single-frame image whose layout
(``pipeline.layout_key``: device, software, size, colour space, calibration) was seen before in
the run is compared with the first image of that layout and looked at again only where it differs
(``Policy.reuse_layouts``). Its boxes therefore depend on which file of its layout came first.
Reading the headers (no pixels) and grouping the files by layout key tells each file which file
of the run will be its reference, whichever worker scrubs it: the parallel runners (``batch``
with several workers, and ``dask``) plan while they read the headers (``Planner``), so that their
first files start at once, with the groups that reading every header first gives
(``layout_groups``, which ``--resume`` uses).

A parallel run then starts each group's first file; when it is done, the group's other files
follow in chunks, side by side, each chunk given the reference the first file left (``Task``), so
a series is spread over every worker and each file still meets its serial run's reference.

A file whose header cannot be read, a multi-frame file, and every file when reuse is off form
groups of their own. The serial runner's 32-layout memory is replayed on the keys, so where it
would forget a layout, the next file of that layout starts a new group, as it would start anew.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .detect.layouts import MAX_LAYOUTS, Reference
from .policy import Policy
from .quiet import no_warnings
from .urls import is_url, open_url

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from .batch import Job

CHUNK_FILES = 4  # at most this many files of a layout in one task of a parallel run (progress stays smooth)
READ_AHEAD = 32  # headers a parallel run reads between looks at its running tasks, while it reads them


def decoded_bytes(ds: Dataset) -> int:
    """What a file's frames take decoded, at least as 8-bit RGB (the detector's rendering): the
    part of a worker's peak memory that grows with the file (``workers.MemoryGate``)."""
    frames = int(ds.get("NumberOfFrames") or 1)
    sample = max(1, (int(ds.get("BitsAllocated") or 8) + 7) // 8) * int(ds.get("SamplesPerPixel") or 1)
    return max(0, frames) * int(ds.get("Rows") or 0) * int(ds.get("Columns") or 0) * max(3, sample)


def _header(path: Path | str, policy: Policy) -> tuple[tuple | None, int]:
    """(layout key, decoded bytes) from one read of the header. The key is the one the pipeline
    will use, or None for a file that takes no part in layout reuse (multi-frame, unreadable
    header, reuse off); the size is 0 for a header that cannot be read."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from .detect.us_regions import image_regions
    from .pipeline import layout_key
    from .read import read

    try:
        with no_warnings():
            if is_url(path):
                with open_url(str(path)) as source:
                    ds = pydicom.dcmread(source, stop_before_pixels=True)
            else:
                try:  # the elements the key needs, parsed as they are read: 3x faster than ``read``'s checks
                    ds = pydicom.dcmread(path, stop_before_pixels=True)
                except InvalidDicomError:  # a data set without the preamble, as the runner reads it
                    ds = read(Path(path), header_only=True)
            size = decoded_bytes(ds)
            if int(ds.get("NumberOfFrames") or 1) != 1 or not policy.reuse_layouts:
                return None, size
            return layout_key(ds, policy, image_regions(ds).boxes), size
    except Exception:  # the worker will refuse the file with its own reason
        return None, 0


class _Replay:
    """The serial runner's layout memory replayed on keys: what the next file of a key joins, or
    None where the runner would meet that layout anew (never seen, or forgotten since)."""

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, key: tuple) -> Any:
        found = self._seen.get(key)
        if found is not None:
            self._seen.move_to_end(key)
        return found

    def put(self, key: tuple, group: Any) -> list[Any]:
        """Remember ``group`` for ``key``; what the memory forgets to make room, oldest first."""
        self._seen[key] = group
        forgotten = []
        while len(self._seen) > MAX_LAYOUTS:
            forgotten.append(self._seen.popitem(last=False)[1])
        return forgotten

    def groups(self) -> list[Any]:
        """What the memory holds, oldest first."""
        return list(self._seen.values())


def _read(job: Job, policy: Policy, sizes: dict[int, int] | None) -> tuple | None:
    """``job``'s layout key, reading its header only when the key or its size is wanted."""
    key, size = _header(job.src, policy) if policy.reuse_layouts or sizes is not None else (None, 0)
    if sizes is not None:
        sizes[id(job)] = size
    return key


def layout_groups(jobs: list[Job], policy: Policy) -> list[list[Job]]:
    """Jobs grouped so that each group, scrubbed in order with an empty layout memory, gives what
    the serial runner gives in walk order. Groups come in order of their first job."""
    groups: list[list[Job]] = []
    replay = _Replay()
    for job in jobs:
        key = _read(job, policy, None)
        group = None if key is None else replay.get(key)
        if group is not None:
            group.append(job)
            continue
        groups.append([job])
        if key is not None:
            replay.put(key, groups[-1])
    return groups


@dataclass(frozen=True, slots=True)
class Task:
    """Files one worker scrubs in order, with a layout memory of their own started from
    ``references``; ``lead``: a layout's first file, whose reference its group's other files wait
    for (``Planner``)."""

    jobs: list[Job]
    references: dict[tuple, Reference] = field(default_factory=dict)
    lead: bool = False

    def singles(self) -> list[Task]:
        """This task as one task a file (each with its references; a lead task is one file already)."""
        if len(self.jobs) == 1:
            return [self]
        return [Task([job], self.references) for job in self.jobs]


def _chunked(jobs: list[Job], references: dict[tuple, Reference], workers: int) -> list[Task]:
    """``jobs`` of one layout, side by side in chunks that spread them over ``workers``."""
    size = max(1, min(CHUNK_FILES, math.ceil(len(jobs) / (4 * workers))))
    return [Task(jobs[at:at + size], references) for at in range(0, len(jobs), size)]


@dataclass(eq=False)
class _Group:
    references: dict[tuple, Reference] | None = None  # what its first file left, once it has
    leading: bool = False  # a first file of it is under way
    waiting: list[Job] = field(default_factory=list)  # read, not yet handed out


class Planner:
    """The tasks of a parallel run, made while the headers are read (``feed``), so that the first
    files start at once: on a network share, reading 100,000 headers first would take minutes. The
    groups, their first files and the references their other files get are those of grouping
    every header first (``layout_groups``; each group's first file, then the others in chunks with
    the reference it left, or the next file first where it left none), so the outputs are the
    serial run's.
    ``finished`` hears each task that ends; ``close`` says every header has been read."""

    def __init__(self, policy: Policy, workers: int, sizes: dict[int, int] | None = None) -> None:
        self.policy, self.workers, self.sizes = policy, workers, sizes
        self._replay = _Replay()  # the groups files may still join (at most MAX_LAYOUTS)
        self._leads: dict[int, tuple[Task, _Group]] = {}  # by id: tasks hold lists and do not hash

    def feed(self, job: Job) -> list[Task]:
        """What reading ``job``'s header lets start."""
        key = _read(job, self.policy, self.sizes)
        if key is None:
            return [Task([job])]
        group, out = self._replay.get(key), []
        if group is None:
            group = _Group()
            for forgotten in self._replay.put(key, group):  # no file joins it any more
                out += self._rest(forgotten)
        if group.references is None and not group.leading:  # new, or its first left no reference
            return out + self._lead(group, job)
        group.waiting.append(job)
        if group.references is not None and len(group.waiting) >= CHUNK_FILES:
            chunk, group.waiting = group.waiting, []
            out.append(Task(chunk, group.references))
        return out

    def read(self, jobs: Iterator[Job]) -> tuple[list[Task], bool]:
        """READ_AHEAD more headers of ``jobs`` read (``feed``): what they let start, and whether
        any are left; after the last, what ``close`` lets start too."""
        batch = list(islice(jobs, READ_AHEAD))
        tasks = [task for job in batch for task in self.feed(job)]
        if len(batch) < READ_AHEAD:
            return tasks + self.close(), False
        return tasks, True

    def finished(self, task: Task, references: dict[tuple, Reference]) -> list[Task]:
        """What ``task``, now done, lets start: its group's files read so far, in chunks side by
        side, each with the reference it left; or, when it left none (its file was not decoded, or
        its worker failed), the next file first, as in the serial run."""
        entry = self._leads.pop(id(task), None)
        if entry is None:
            return []
        group = entry[1]
        group.leading = False
        if not references:
            return self._lead(group, group.waiting.pop(0)) if group.waiting else []
        group.references = references
        return self._rest(group)

    def close(self) -> list[Task]:
        """Every header is read: the files still waiting beside a reference start."""
        return [task for group in self._replay.groups() for task in self._rest(group)]

    def _rest(self, group: _Group) -> list[Task]:
        """The files waiting in ``group``, in chunks, once its first file has left its reference."""
        if group.references is None or not group.waiting:
            return []
        chunks, group.waiting = _chunked(group.waiting, group.references, self.workers), []
        return chunks

    def _lead(self, group: _Group, job: Job) -> list[Task]:
        task = Task([job], {}, lead=True)
        group.leading = True
        self._leads[id(task)] = (task, group)
        return [task]
