"""Public entry points: a dataset, a file, or a set of paths. No CLI code here.

This is the stage that pipelines call (Dask, the DICOM network node, user code).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .audit import FileReport
from .batch import RunSummary, resolve_workers, scrub_jobs, walk
from .files import scrub_file
from .naming import RENAMES, Rename
from .pipeline import ScrubResult, scrub_dataset
from .places import check_places
from .policy import Policy
from .resume import split
from .urls import is_url

__all__ = ["Policy", "ScrubResult", "FileReport", "RunSummary", "scrub_dataset", "scrub_file",
           "scrub_paths", "default_quarantine", "default_audit"]


def default_quarantine(out_dir: Path) -> Path:
    """Quarantine lives beside the output, never inside it: OUT.quarantine/."""
    out_dir = _named(out_dir)
    return out_dir.with_name(out_dir.name + ".quarantine")


def default_audit(out_dir: Path) -> Path:
    """The run's audit (JSONL, no PHI) beside the output: OUT.audit.jsonl."""
    out_dir = _named(out_dir)
    return out_dir.with_name(out_dir.name + ".audit.jsonl")


def _named(out_dir: Path) -> Path:
    """``out_dir``, made absolute where it ends in "." or ".." (``-o .``): a name to put beside."""
    out_dir = Path(out_dir)
    return Path(os.path.abspath(out_dir)) if out_dir.name in ("", "..") else out_dir


def scrub_paths(paths: Iterable[str | Path], out_dir: str | Path, policy: Policy | None = None, *,
                workers: int | str = 1, quarantine: str | Path | None = None, qa: str | Path | None = None,
                audit: str | Path | None = None,
                progress: Callable[[FileReport], None] | None = None,
                on_start: Callable[[int], None] | None = None, rename: Rename = "keep",
                resume: bool = False, memory: int | None = None) -> RunSummary:
    """Scrub files and folder trees into ``out_dir`` (same relative paths), one report per file.

    ``rename="uid"``: each output is named by its cleaned header instead,
    ``out_dir/<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` (the
    pseudonyms and keyed UIDs, so input paths that hold names never reach the output). An output
    path is written once per run; another input with that path is quarantined (``duplicate_output``).
    Files that cannot be cleaned go to ``quarantine`` (default OUT.quarantine/) with a reason file;
    ``qa`` (optional) receives before/after PNGs (both under the input's relative path);
    ``on_start`` hears the number of files found. ``workers="auto"`` picks a count for the cores,
    the memory and the size of the job (``scrubber.workers``); the summary says which. ``resume``
    (with the interrupted run's key in ``policy``): inputs its audit says were delivered, whose
    outputs are there, are not scrubbed again (``scrubber.resume``; reason_code ``resumed``).
    ``memory``: the most the run may use, in bytes (``batch.scrub_jobs``).
    """
    if rename not in RENAMES:
        raise ValueError(f"rename must be one of {RENAMES}, got {rename!r}")
    started = time.perf_counter()
    policy = policy or Policy()
    paths = list(paths)
    if any(is_url(p) for p in paths):
        raise ValueError("URL inputs are read by the Dask runner: scrubber run URL... -o OUT --dask local "
                         "(or scrubber.dask.scrub_paths)")
    inputs = [Path(p) for p in paths]
    out_dir = Path(out_dir)
    quarantine = Path(quarantine) if quarantine is not None else default_quarantine(out_dir)
    audit = Path(audit) if audit is not None else default_audit(out_dir)
    qa_dir = Path(qa) if qa is not None else None
    check_places(inputs, [out_dir, quarantine, qa_dir], [audit], out=out_dir, private=[quarantine, qa_dir])
    jobs, skipped = walk(inputs)
    resumed, todo = split(jobs, audit, out_dir, policy, rename) if resume else ({}, jobs)
    workers = resolve_workers(workers, todo, policy, memory)
    if on_start is not None:
        on_start(len(jobs))
    reports = scrub_jobs(jobs, out_dir, policy, workers=workers, quarantine=quarantine, qa=qa_dir,
                         audit=audit, progress=progress, rename=rename, resumed=resumed, memory=memory)
    return RunSummary(reports=reports, skipped=skipped, seconds=time.perf_counter() - started, workers=workers)
