"""Many files: walk the inputs, fan out over workers, collect reports and the audit.

Workers are processes on the CPU (the model loaded once in each; torch threads split so they don't
fight) and threads sharing one model on a CUDA device (``shares_model``).
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from .audit import AuditLog, FileReport
from .detect.layouts import LayoutMemory, Reference, using
from .detect.ocr import default_threads
from .files import kept_in_quarantine, scrub_file
from .grouping import Planner, Task
from .naming import Rename
from .policy import Policy
from .read import is_dicomdir
from .resume import hold_output
from .urls import is_url
from .workers import AUTO, MemoryGate, auto_workers, input_sizes, memory_budget


@dataclass(frozen=True, slots=True)
class Job:
    src: Path | str  # a str is an fsspec URL (scrubber/urls.py; the Dask runner only)
    rel: str


@dataclass
class RunSummary:
    """Totals of a run; ``ok`` is True only when every input was delivered."""

    reports: list[FileReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1

    def count(self, decision: str) -> int:
        return sum(1 for r in self.reports if r.decision == decision)

    @property
    def frames(self) -> int:
        return sum(r.frames for r in self.reports)

    @property
    def boxes(self) -> int:
        return sum(r.boxes_removed for r in self.reports)

    @property
    def ok(self) -> bool:
        return all(r.decision == "delivered" for r in self.reports)


def walk(inputs: Iterable[Path], prefix_roots: bool | None = None) -> tuple[list[Job], list[str]]:
    """Files under the inputs, with their output-relative paths; DICOMDIRs listed apart (skipped).
    A folder's own name goes in front of its files' paths when there are several inputs (or when
    ``prefix_roots`` says so)."""
    inputs = [Path(p) for p in inputs]
    jobs: list[Job] = []
    skipped: list[str] = []
    prefix_roots = len(inputs) > 1 if prefix_roots is None else prefix_roots
    for root in inputs:
        if not root.exists():
            raise FileNotFoundError(f"input {root} does not exist")
        if root.is_file():
            found = [(root, root.name)]
        elif not root.is_dir():
            raise ValueError(f"input {root} is neither a file nor a folder")
        else:
            base = root.name if prefix_roots else ""
            found = [(path, str(Path(base) / path.relative_to(root))) for path in _tree(root)]
        for path, rel in found:
            if is_dicomdir(path):
                skipped.append(rel)
            else:
                jobs.append(Job(path, rel))
    check_unique(jobs)
    return jobs, skipped


def check_unique(jobs: Iterable[Job]) -> None:
    """Refuse two inputs that map to one output path."""
    seen: set[str] = set()
    for job in jobs:
        if job.rel in seen:
            raise ValueError(f"two inputs map to the same output path {job.rel}")
        seen.add(job.rel)


def _tree(root: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file():
                yield path


_worker_threads = 0
IN_FLIGHT = 2  # tasks a worker handed to the pool at a time: few to make again when one dies


def init_worker(threads: int, policy: Policy | None = None) -> None:
    """Set this process's detector threads (a pool worker, or the caller itself; Dask's tasks too);
    with ``policy``, load the detector now: a pool's workers load theirs while the first file of
    a layout is scrubbed, before the files that wait for it arrive."""
    global _worker_threads
    _worker_threads = threads
    if policy is not None:
        from .detect.registry import detector_for

        try:
            detector_for(policy, threads)
        except Exception:  # each file reports it (run_job)
            pass


def _init_pool_worker(threads: int, policy: Policy) -> None:
    """A worker process of the local pool: Ctrl-C reaches the whole process group, and the run
    (the parent) decides: the files under way end, no other starts, the run says how to go on."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    init_worker(threads, policy)


def run_job(job: Job, out_dir: Path, policy: Policy, quarantine: Path | None, qa: Path | None,
            rename: Rename = "keep", claims: Path | None = None) -> FileReport:
    """One file in this process, with its cached detector; the unit of work of every runner."""
    from .detect.registry import detector_for

    try:
        detector = detector_for(policy, _worker_threads)
    except Exception as exc:
        return failed_report(job, "detector_unavailable",
                             f"text detector could not be loaded ({type(exc).__name__}: {exc})", quarantine)
    dst = out_dir if rename == "uid" else out_dir / job.rel
    report = scrub_file(job.src, dst, policy, rel=job.rel, qa=qa, detector=detector, rename=rename, claims=claims)
    return _kept(job, report, quarantine)


def shares_model(policy: Policy) -> bool:
    """Whether workers are threads of this process sharing one model: on a CUDA device one copy of
    the network sits on the card and its passes hold frames of several files (detect/gather.py);
    on the CPU they are processes, each with its own model, which use the cores better."""
    from .detect.registry import choose_backend

    try:
        return choose_backend(policy)[1] == "cuda"
    except Exception:  # no usable backend: each worker reports that for its files
        return False


def resolve_workers(workers: int | str, jobs: list[Job], policy: Policy, memory: int | None = None) -> int:
    """A count as given, or what "auto" comes to for these jobs on this machine and device (and
    within ``memory`` bytes, where given)."""
    if workers == AUTO:
        return auto_workers(input_sizes([job.src for job in jobs], _size), shares_model(policy), memory)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a count of at least 1 or {AUTO!r}, got {workers!r}")
    return workers


def scrub_jobs(jobs: list[Job], out_dir: Path, policy: Policy, *, workers: int | str = 1,
               quarantine: Path | None = None, qa: Path | None = None, audit: Path | None = None,
               progress: Callable[[FileReport], None] | None = None, rename: Rename = "keep",
               resumed: dict[str, FileReport] | None = None, memory: int | None = None) -> list[FileReport]:
    """Scrub every job; reports come back in input order, progress is called as each finishes.

    ``rename="uid"`` names outputs by their new header (see ``files.uid_path``). In either mode an
    output path is written once per run: a later input with the same path is quarantined as
    ``duplicate_output`` (with several workers, "later" is whichever finishes second).
    ``workers="auto"``: as many as the cores, the memory and the size of the job repay
    (``scrubber.workers``). ``resumed``: reports, by relative path, of jobs an earlier run
    delivered (``scrubber.resume``); they are not scrubbed again, and their outputs stay taken.
    ``memory``: the most the run may use, in bytes (fewer workers under "auto", and long clips
    wait for each other sooner: ``workers.MemoryGate``); default what the machine has available.
    """
    resumed = resumed or {}
    index = {id(job): i for i, job in enumerate(jobs)}  # by identity: two jobs may share a path (claims catch it)
    todo = [job for job in jobs if job.rel not in resumed]
    workers = resolve_workers(workers, todo, policy, memory)
    threads = policy.threads or default_threads(workers)
    claims = Path(tempfile.mkdtemp(prefix="scrubber-claims-"))  # one empty file per output path taken
    log = AuditLog(audit, policy.key, policy.settings_digest()) if audit is not None else None
    reports: dict[int, FileReport] = {}

    def done(job: Job, report: FileReport, audited: bool = True) -> None:
        reports[index[id(job)]] = report
        if log is not None and audited:
            log.write(report)
        if progress is not None:
            progress(report)

    try:
        for job in jobs:
            if job.rel in resumed:
                hold_output(claims, job, resumed[job.rel], out_dir, policy, rename)
                done(job, resumed[job.rel], audited=False)  # the earlier run's audit line stands
        if todo and workers <= 1:
            init_worker(threads)
            with using(LayoutMemory()):  # the run's own: what this process scrubbed before changes nothing
                for job in todo:
                    done(job, run_job(job, out_dir, policy, quarantine, qa, rename, claims))
        elif todo:
            if shares_model(policy):
                init_worker(threads)
                make_pool: Callable[[], Executor] = partial(ThreadPoolExecutor, workers, thread_name_prefix="scrub")
            else:
                make_pool = partial(ProcessPoolExecutor, workers, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_init_pool_worker, initargs=(threads, policy))
            task = partial(run_task, out_dir=out_dir, policy=policy, quarantine=quarantine, qa=qa,
                           rename=rename, claims=claims)
            _run_parallel(make_pool, task, todo, policy, workers, done, quarantine, memory_budget(workers, memory))
    finally:
        shutil.rmtree(claims, ignore_errors=True)
        if log is not None:
            log.close()
    return [reports[i] for i in range(len(jobs))]


def run_task(jobs: list[Job], references: dict[tuple, Reference] | None, lead: bool, *, out_dir: Path,
             policy: Policy, quarantine: Path | None, qa: Path | None, rename: Rename, claims: Path,
             run: Callable[..., FileReport] = run_job) -> tuple[list[FileReport], dict[tuple, Reference]]:
    """A task of a parallel run (``grouping.Task``; the Dask runner's too): ``jobs`` in order, each
    through ``run``, with a layout memory of their own started from ``references``; a group's first
    file (``lead``) hands back the reference it leaves its layout."""
    with using(LayoutMemory(items=references)) as layouts:
        reports = [run(job, out_dir, policy, quarantine, qa, rename, claims) for job in jobs]
        return reports, layouts.snapshot() if lead else {}


def _run_parallel(make_pool: Callable[[], Executor], task: Callable[..., tuple[list[FileReport], dict]],
                  jobs: list[Job], policy: Policy, workers: int, done: Callable[[Job, FileReport], None],
                  quarantine: Path | None, budget: int | None) -> None:
    """Every job in a pool of ``workers``, each file with the layout reference it meets in the
    serial run, so the outputs do not depend on the number of workers or on which finishes first
    (``grouping``). Headers are read as the run goes (``grouping.Planner``): the first files start
    at once. At most ``IN_FLIGHT`` tasks a worker are handed to the pool at a time, and no more
    than the memory ``budget`` holds (``workers.MemoryGate``: long clips wait for each other,
    smaller files go past them). When a worker process dies (out of memory, a crash in a decoder),
    every task in flight fails with it: the pool is made again and those tasks' files are made
    again one at a time, so the file whose worker dies again, alone, is the one reported, and the
    batch goes on. Ctrl-C: the files under way end, no other starts."""
    sizes: dict[int, int] = {}
    planner, unread, reading = Planner(policy, workers, sizes), iter(jobs), True
    ready: deque[Task] = deque()
    gate = MemoryGate(budget, sizes)
    suspects: deque[Task] = deque()  # in flight when a worker died
    running: dict[Future, Task] = {}
    lone: Future | None = None  # a suspect made again with nothing else in flight
    broken = False
    pool = make_pool()

    def fail(batch: list[Job], reason: str) -> None:
        for job in batch:
            done(job, failed_report(job, "worker_failed", reason, quarantine))

    def submit(queue: deque[Task], at: int = 0) -> Future | None:
        nonlocal broken
        chosen = queue[at]
        try:
            future = pool.submit(task, chosen.jobs, chosen.references, chosen.lead)
        except BrokenProcessPool:  # a worker died between tasks: made again below
            broken = True
            return None
        del queue[at]
        running[future] = chosen
        return future

    try:
        while reading or ready or suspects or running:
            if reading:  # a few headers at a time: the first files start while the others are read
                tasks, reading = planner.read(unread)
                ready.extend(tasks)
            if broken and not running:
                _discard(pool)
                pool, broken = make_pool(), False
            if suspects and not running:
                lone = submit(suspects)
            while not suspects and not broken and len(running) < IN_FLIGHT * workers:
                at = gate.pick(ready, running.values())
                if at is None:
                    break
                submit(ready, at)
            if not running:
                continue
            finished, _ = wait(running, timeout=0 if reading else None, return_when=FIRST_COMPLETED)
            for future in finished:
                ended = running.pop(future)
                try:
                    reports, references = future.result()
                except BrokenProcessPool:
                    broken = True
                    if future is not lone:
                        suspects.extend(ended.singles())
                        continue
                    fail(ended.jobs, "its worker process died (out of memory, or a crash in a decoder)")
                    reports, references = [], {}
                except Exception as exc:
                    fail(ended.jobs, f"worker process failed ({type(exc).__name__})")
                    reports, references = [], {}
                for job, report in zip(ended.jobs, reports):
                    done(job, report)
                ready.extendleft(reversed(planner.finished(ended, references)))  # a layout's files together
    except BaseException:
        _discard(pool)
        raise
    finally:
        if broken:
            _discard(pool)
        else:
            pool.shutdown(wait=True)


def _discard(pool: Executor) -> None:
    """Shut ``pool`` down without waiting and end every worker process it still holds. When a
    worker dies while the pool starts another, CPython's manager thread fails ("dictionary
    changed size during iteration") and never stops the new one; the interpreter then waits
    for it at exit, for ever (seen once in CI, after the test of a worker that kills itself)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()


def _size(src: Path | str) -> int:
    try:
        return os.stat(src).st_size
    except OSError:  # gone or unreadable: its own report says so
        return 0


def failed_report(job: Job, code: str, reason: str, quarantine: Path | None) -> FileReport:
    """A file the scrubber could not even try: reported as failed, kept in quarantine (a local one)."""
    return _kept(job, FileReport(rel=job.rel, decision="failed", reason_code=code, reason=reason), quarantine)


def _kept(job: Job, report: FileReport, quarantine: Path | None) -> FileReport:
    """``report``, with the input of a file not delivered copied to ``quarantine`` (a local input:
    a URL input stays where it is, in its store)."""
    if report.decision == "delivered" or quarantine is None or is_url(job.src):
        return report
    return kept_in_quarantine(Path(job.src), quarantine / job.rel, report)
