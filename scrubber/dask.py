"""Scrub many files on a Dask cluster, with the same outputs as the local runner, byte for byte.

The serial runner's boxes depend on which file of a layout came first (``scrubber.grouping``).
So that a cluster gives the same boxes:

- The client reads the headers (no pixels), a few at a time, and groups files by layout key in
  walk order as it reads them (``grouping.Planner``, as the local runner does): the cluster starts
  on the first files while the client reads the others.
- A group's first file goes first, on any worker; then the group's other files follow in chunks
  on every worker, each task with a layout memory of its own started from the reference the first
  file left (``grouping.Task``): a series is spread over the cluster, and no other task, nor what a
  worker scrubbed before, changes its boxes.
- The detector is built once per worker process (``detect.registry.detector_for`` caches it);
  a task carries paths, the Policy (which holds the key) and, for a layout's later files, its first
  file's rendering, pixels that may show PHI (scattered once per group, while the group is among the
  32 last begun): use a trusted network or TLS.

Workers read the inputs and write outputs, quarantine and QA files themselves, directly under the
given folders: every worker must see the same paths (one machine, or a shared file system). Inputs
may also be fsspec URLs (``s3://bucket/export/``, ``file:///data``; scrubber/urls.py): the client
lists them and reads their headers, and the worker that scrubs a file fetches it first. The
client writes the audit. A task may run again when its worker dies; it then rewrites the same
files (an output path is claimed per input, not per attempt). A task that fails for good has its
files reported as ``worker_failed`` and their inputs quarantined (a group's first file: the next
one leads the rest); outputs that the failed task wrote before it died stay in OUT.

Limit: where the first file of a layout cannot be decoded, the next one leads its group, as in
the local runner; with more than 32 layouts interleaved, the replayed memory may then forget a
layout at another file than the local runner does.
"""
from __future__ import annotations

import contextlib
import posixpath
import re
import shutil
import tempfile
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from distributed import Client, Future, LocalCluster, as_completed

from scrubber.api import default_audit, default_quarantine
from scrubber.audit import TABLE_COLUMNS, AuditLog, FileReport, report_table, write_table
from scrubber.batch import (Job, RunSummary, check_unique, failed_report, init_worker, run_job,
                            run_task, walk)
from scrubber.detect.layouts import MAX_LAYOUTS, Reference
from scrubber.detect.ocr import default_threads
from scrubber.grouping import Planner, Task
from scrubber.naming import RENAMES, Rename
from scrubber.places import check_places
from scrubber.policy import Policy
from scrubber.resume import hold_output, split as resume_split
from scrubber.urls import is_url, list_url, local_copy

__all__ = ["scrub_paths", "local_client", "connect", "report_table", "write_table",
           "TABLE_COLUMNS", "check_address", "scrub_group", "warm_up"]

CONNECT_TIMEOUT_S = 10
_ADDRESS = re.compile(r"(tcp|tls)://[A-Za-z0-9._\-\[\]:]+:\d{1,5}")


def check_address(address: str) -> str:
    """``local`` or a scheduler address ``tcp://HOST:PORT`` (``tls://`` too); ValueError otherwise."""
    if address == "local" or _ADDRESS.fullmatch(address):
        return address
    raise ValueError(f"--dask takes local or tcp://HOST:PORT, got {address!r}")


@contextmanager
def local_client(workers: int) -> Iterator[Client]:
    """A LocalCluster of ``workers`` processes, one task at a time each (the detector uses the cores)."""
    with warnings.catch_warnings():  # its HTTP server moves to a free port when 8787 is taken: no news
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None)
    with cluster, Client(cluster) as client:
        yield client


@contextmanager
def connect(address: str) -> Iterator[Client]:
    """A client of an existing scheduler; its workers must import this same scrubber.
    ValueError when no scheduler answers there (a usage error, like a missing input)."""
    try:
        client = Client(check_address(address), timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise ValueError(f"no Dask scheduler answers at {address} ({type(exc).__name__})") from None
    with client:
        yield client


def scrub_group(jobs: list[Job], out_dir: Path, policy: Policy, quarantine: Path | None, qa: Path | None,
                rename: Rename, claims: Path, share: int, references: dict[tuple, Reference] | None = None,
                lead: bool = False) -> tuple[list[FileReport], dict[tuple, Reference]]:
    """The task (``grouping.Task``): files in order on one worker, with a layout memory of their own
    started from ``references`` (none: no layout seen); a group's first file (``lead``) hands back
    the reference it leaves. ``share``: worker processes on each host, which split its cores
    between their detectors."""
    init_worker(detector_threads(policy, share))
    return run_task(jobs, references, lead, out_dir=out_dir, policy=policy, quarantine=quarantine, qa=qa,
                    rename=rename, claims=claims, run=_run_any)


def _run_any(job: Job, *args) -> FileReport:
    """A local path as the local runner scrubs it; a URL from a local copy (``_run_fetched``)."""
    return _run_fetched(job, *args) if is_url(job.src) else run_job(job, *args)


def _run_fetched(job: Job, out_dir: Path, policy: Policy, quarantine: Path | None, qa: Path | None,
                 rename: Rename, claims: Path) -> FileReport:
    """A URL input: scrubbed from a private local copy (a quarantined file gets the copy's bytes)."""
    with contextlib.ExitStack() as stack:
        try:
            path = stack.enter_context(local_copy(str(job.src)))
        except Exception as exc:  # any storage error: this file fails, the batch goes on
            return failed_report(job, "unreadable", f"cannot fetch the input ({type(exc).__name__})", None)
        return run_job(Job(path, job.rel), out_dir, policy, quarantine, qa, rename, claims)


def _jobs(paths: Iterable[str | Path]) -> tuple[list[Job], list[str]]:
    """Jobs for local paths (``batch.walk``) and fsspec URLs (``urls.list_url``), in input order;
    a folder's name goes in front of its files' paths when there are several inputs."""
    paths = list(paths)
    prefix = len(paths) > 1
    jobs: list[Job] = []
    skipped: list[str] = []
    for item in paths:
        if is_url(item):
            for url, rel in list_url(item, prefix):
                if posixpath.basename(rel).upper() == "DICOMDIR":
                    skipped.append(rel)
                else:
                    jobs.append(Job(url, rel))
        else:
            found, passed = walk([Path(item)], prefix)
            jobs.extend(Job(job.src.absolute(), job.rel) for job in found)  # workers may start elsewhere
            skipped.extend(passed)
    check_unique(jobs)
    return jobs, skipped


def detector_threads(policy: Policy, share: int) -> int:
    """Threads of this worker's detector (evaluated on the worker: its host's cores)."""
    return policy.threads or default_threads(share)


def workers_per_host(client: Client) -> int:
    """The most worker processes that run on one host of the cluster (at least 1)."""
    hosts: dict[str, int] = {}
    for info in client.scheduler_info().get("workers", {}).values():
        hosts[info.get("host", "")] = hosts.get(info.get("host", ""), 0) + 1
    return max(hosts.values(), default=1)


def warm_up(client: Client, policy: Policy) -> dict[str, str]:
    """Load the detector in every worker now (each keeps it for the run's tasks); returns, per
    worker, the detector's class. Optional: the first task of a worker loads it otherwise."""
    from scrubber.detect.registry import detector_for

    share = workers_per_host(client)
    return client.run(lambda: type(detector_for(policy, detector_threads(policy, share))).__name__)


def _claims_folder(out_dir: Path) -> Path:
    """Beside OUT (on the file system the workers share), removed at the end of the run."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.claims-", dir=out_dir.parent))


def scrub_paths(paths: Iterable[str | Path], out_dir: str | Path, policy: Policy | None = None, *,
                client: Client, quarantine: str | Path | None = None, qa: str | Path | None = None,
                audit: str | Path | None = None, progress: Callable[[FileReport], None] | None = None,
                on_start: Callable[[int], None] | None = None, rename: Rename = "keep",
                resume: bool = False) -> RunSummary:
    """``scrubber.api.scrub_paths`` on the workers of ``client``: same arguments, same outputs,
    reports and audit lines (in the order files finish); ``progress`` hears each file as its task ends.
    ``resume``: as the local runner's (URL inputs are always scrubbed again)."""
    if rename not in RENAMES:
        raise ValueError(f"rename must be one of {RENAMES}, got {rename!r}")
    started = time.perf_counter()
    policy = policy or Policy()
    paths = list(paths)
    inputs = [Path(p) for p in paths if not is_url(p)]
    out_dir = Path(out_dir).absolute()
    quarantine = Path(quarantine).absolute() if quarantine is not None else default_quarantine(out_dir)
    audit = Path(audit) if audit is not None else default_audit(out_dir)
    qa_dir = Path(qa).absolute() if qa is not None else None
    check_places(inputs, [out_dir, quarantine, qa_dir], [audit], out=out_dir, private=[quarantine, qa_dir])
    jobs, skipped = _jobs(paths)
    resumed, todo = resume_split(jobs, audit, out_dir, policy, rename) if resume else ({}, jobs)
    if on_start is not None:
        on_start(len(jobs))
    claims = _claims_folder(out_dir)
    log = AuditLog(audit, policy.key, policy.settings_digest())
    order = {job.rel: index for index, job in enumerate(jobs)}
    reports: dict[int, FileReport] = {}
    try:
        for job in jobs:
            if job.rel in resumed:  # the earlier run's audit line stands; its output stays taken
                reports[order[job.rel]] = resumed[job.rel]
                hold_output(claims, job, resumed[job.rel], out_dir, policy, rename)
                if progress is not None:
                    progress(resumed[job.rel])
        for report in _run_planned(client, todo, out_dir, policy, quarantine, qa_dir, rename, claims):
            reports[order[report.rel]] = report
            log.write(report)
            if progress is not None:
                progress(report)
    finally:
        shutil.rmtree(claims, ignore_errors=True)
        log.close()
    return RunSummary(reports=[reports[i] for i in range(len(jobs))], skipped=skipped,
                      seconds=time.perf_counter() - started,
                      workers=max(1, len(client.scheduler_info().get("workers", {}))))


def _run_planned(client: Client, jobs: list[Job], out_dir: Path, policy: Policy, quarantine: Path,
                 qa: Path | None, rename: Rename, claims: Path) -> Iterator[FileReport]:
    """Submit each group's first file as its header is read (``grouping.Planner``, as the local
    runner does: the cluster starts while the client reads the other headers), then its other
    files side by side once the first has left its reference; yield reports as tasks finish."""
    share = workers_per_host(client)
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    planner, unread, reading = Planner(policy, workers), iter(jobs), True
    sent: OrderedDict[int, tuple[dict, Future]] = OrderedDict()  # a group's references, scattered once
    futures: dict[Future, Task] = {}
    finishing = as_completed()

    def start(tasks: list[Task]) -> None:
        for task in tasks:
            references: object = task.references
            if task.references:  # the entry holds the dict, so its id stays its own
                if id(task.references) not in sent:
                    sent[id(task.references)] = (task.references,
                                                 client.scatter([task.references], hash=False)[0])
                    if len(sent) > MAX_LAYOUTS:
                        sent.popitem(last=False)
                references = sent[id(task.references)][1]
            future = client.submit(scrub_group, task.jobs, out_dir, policy, quarantine, qa, rename, claims, share,
                                   references, task.lead, pure=False)
            futures[future] = task
            finishing.add(future)

    while reading or futures:
        if reading:
            tasks, reading = planner.read(unread)
            start(tasks)
        for future in finishing.next_batch(block=not reading) if futures else ():
            task = futures.pop(future)
            try:
                reports, references = future.result()
            except Exception as exc:  # the task failed for good (a worker died, again and again)
                reports = [failed_report(job, "worker_failed", f"Dask task failed ({type(exc).__name__})",
                                         quarantine) for job in task.jobs]
                references = {}
            future.release()
            start(planner.finished(task, references))
            yield from reports
