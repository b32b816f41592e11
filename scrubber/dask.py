"""Scrub many files on a Dask cluster, with the same outputs as the local runner, byte for byte.

The local runner (``scrubber.api.scrub_paths``, one worker) scrubs files in walk order, and a
single-frame image whose layout (``pipeline.layout_key``: device, software, size, colour space,
calibration) was seen before in the process is compared with the first image of that layout and
looked at again only where it differs (``Policy.reuse_layouts``). Its boxes therefore depend on
which file of its layout came first. So that a cluster gives the same boxes:

- The client reads every header (no pixels) and groups files by layout key, in walk order. A file
  whose header cannot be read, a multi-frame file, and every file when reuse is off form groups
  of their own. The 32-layout memory of the local runner is replayed on the keys, so where it
  would forget a layout, the next file of that layout starts a new group, as it would start anew.
- One task per group scrubs the group's files in walk order on one worker, after clearing that
  worker's layout memory: a worker that ran another group of the same layout first cannot change
  the result. A series stays on one worker and keeps the benefit of its first image.
- The detector is built once per worker process (``detect.registry.detector_for`` caches it);
  a task carries only paths and the Policy (which holds the key: use a trusted network or TLS).

Workers read the inputs and write outputs, quarantine and QA files themselves, directly under the
given folders: every worker must see the same paths (one machine, or a shared file system). Inputs
may also be fsspec URLs (``s3://bucket/export/``, ``file:///data``; scrubber/urls.py): the client
lists them and reads their headers, and the worker that scrubs a file fetches it first. The
client writes the audit. A task may run again when its worker dies; it then rewrites the same
files (an output path is claimed per input, not per attempt). A group whose task fails for good
is reported file by file as ``worker_failed`` and its inputs are quarantined; outputs that the
failed task wrote before it died stay in OUT.

Limit: the replayed memory assumes the first file of a layout becomes its reference; when that
file cannot be decoded, the local runner takes the next one, and with more than 32 layouts
interleaved the two may forget a layout at different files.
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

from distributed import Client, LocalCluster, as_completed

from scrubber.api import default_audit, default_quarantine
from scrubber.audit import TABLE_COLUMNS, AuditLog, FileReport, report_table, write_table
from scrubber.batch import (Job, RunSummary, check_layout, check_unique, failed_report, init_worker, run_job,
                            walk)
from scrubber.detect.layouts import MAX_LAYOUTS, memory
from scrubber.detect.ocr import default_threads
from scrubber.naming import RENAMES, Rename
from scrubber.policy import Policy
from scrubber.quiet import no_warnings
from scrubber.urls import is_url, list_url, local_copy, open_url

__all__ = ["scrub_paths", "local_client", "connect", "layout_groups", "report_table", "write_table",
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


def _header_key(path: Path | str, policy: Policy) -> tuple | None:
    """The layout key the pipeline will use for this file, from its header; None when the file does
    not take part in layout reuse (multi-frame, unreadable header, reuse off)."""
    import pydicom

    from scrubber.detect.us_regions import image_regions
    from scrubber.pipeline import layout_key

    if not policy.reuse_layouts:
        return None
    try:
        with no_warnings(), (open_url(path) if is_url(path) else contextlib.nullcontext(path)) as source:
            ds = pydicom.dcmread(source, stop_before_pixels=True)
            if int(ds.get("NumberOfFrames") or 1) != 1:
                return None
            return layout_key(ds, policy, image_regions(ds).boxes)
    except Exception:  # the worker will refuse the file with its own reason
        return None


def layout_groups(jobs: list[Job], policy: Policy) -> list[list[Job]]:
    """Jobs grouped so that each group, scrubbed in order with an empty layout memory, gives what
    the local runner gives in walk order (module docstring). Groups come in order of their first job."""
    groups: list[list[Job]] = []
    open_groups: dict[tuple, list[Job]] = {}
    seen: OrderedDict[tuple, None] = OrderedDict()  # the runner's memory, replayed on keys
    for job in jobs:
        key = _header_key(job.src, policy)
        if key is None:
            groups.append([job])
            continue
        if key in seen:
            seen.move_to_end(key)
            open_groups[key].append(job)
            continue
        open_groups[key] = [job]
        groups.append(open_groups[key])
        seen[key] = None
        while len(seen) > MAX_LAYOUTS:
            forgotten, _ = seen.popitem(last=False)
            del open_groups[forgotten]
    return groups


def scrub_group(jobs: list[Job], out_dir: Path, policy: Policy, quarantine: Path | None, qa: Path | None,
                rename: Rename, claims: Path, share: int) -> list[FileReport]:
    """The task: one group's files in order, on one worker, starting with no layout seen.
    ``share``: worker processes on each host, which split its cores between their detectors."""
    memory().clear()
    init_worker(detector_threads(policy, share))
    return [_run_fetched(job, out_dir, policy, quarantine, qa, rename, claims) if is_url(job.src)
            else run_job(job, out_dir, policy, quarantine, qa, rename, claims) for job in jobs]


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
                on_start: Callable[[int], None] | None = None, rename: Rename = "keep") -> RunSummary:
    """``scrubber.api.scrub_paths`` on the workers of ``client``: same arguments, same outputs,
    reports and audit lines (in the order files finish); ``progress`` hears each file as its group ends."""
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
    check_layout(inputs, out_dir, [quarantine, qa_dir])
    jobs, skipped = _jobs(paths)
    if on_start is not None:
        on_start(len(jobs))
    claims = _claims_folder(out_dir)
    log = AuditLog(audit, policy.key)
    order = {job.rel: index for index, job in enumerate(jobs)}
    reports: dict[int, FileReport] = {}
    try:
        for report in _run_groups(client, layout_groups(jobs, policy), out_dir, policy, quarantine, qa_dir,
                                  rename, claims):
            reports[order[report.rel]] = report
            log.write(report)
            if progress is not None:
                progress(report)
    finally:
        shutil.rmtree(claims, ignore_errors=True)
        log.close()
    return RunSummary(reports=[reports[i] for i in range(len(jobs))], skipped=skipped,
                      seconds=time.perf_counter() - started)


def _run_groups(client: Client, groups: list[list[Job]], out_dir: Path, policy: Policy, quarantine: Path,
                qa: Path | None, rename: Rename, claims: Path) -> Iterator[FileReport]:
    """Submit one task per group and yield reports as groups finish."""
    if not groups:
        return
    share = workers_per_host(client)
    futures = {client.submit(scrub_group, group, out_dir, policy, quarantine, qa, rename, claims, share,
                             pure=False): group for group in groups}
    for future in as_completed(futures):
        group = futures.pop(future)
        try:
            reports = future.result()
        except Exception as exc:  # the task failed for good (a worker died, again and again)
            reports = [failed_report(job, "worker_failed", f"Dask task failed ({type(exc).__name__})", quarantine)
                       for job in group]
        future.release()
        yield from reports
