"""Resuming an interrupted run: inputs that an earlier run delivered are not scrubbed again.

A run appends one audit line per file as it finishes, so after an interruption the audit says
which inputs reached OUT. ``scrubber run ... --resume`` (with the earlier run's ``--key-file``)
skips an input when the audit's last line for it (the keyed digest of its relative path) says
delivered under the same settings (``Policy.settings_digest``), its output is still there, and the
input still holds the same instance (the keyed digest of its SOP Instance UID). Anything else is
scrubbed again, as in a new run, and so is the first file of a layout whose other files are left:
the resumed run then ends with the files of an uninterrupted one (``split``).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .audit import FileReport
from .files import claim_owner
from .header import digest
from .naming import Rename, claim
from .policy import Policy
from .quiet import no_warnings
from .read import read

if TYPE_CHECKING:
    from .batch import Job

RESUMED = "resumed"  # reason_code of a file an earlier run delivered
_FIELDS = {f.name for f in dataclasses.fields(FileReport)}


def earlier_deliveries(audit: Path, policy: Policy) -> dict[str, dict]:
    """The audit's last line per file (keyed digest) where it says delivered under ``policy``'s
    settings; lines cut short by the interruption, or not JSON, are passed over."""
    last: dict[str, dict] = {}
    if not audit.is_file():
        return last
    with audit.open(encoding="utf-8", errors="replace") as lines:
        for text in lines:
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if isinstance(line, dict) and isinstance(line.get("file"), str):
                last[line["file"]] = line
    settings = policy.settings_digest()
    return {file: line for file, line in last.items()
            if line.get("decision") == "delivered" and line.get("settings") == settings}


def delivered_before(job: Job, line: dict | None, out_dir: Path, policy: Policy, rename: Rename) -> FileReport | None:
    """The report of ``job`` as an earlier run delivered it (``line``, its audit line), when that
    still holds: the output is there and the input is the same instance; None to scrub it."""
    if line is None or not isinstance(job.src, Path) or (rename == "uid" and not line.get("output")):
        return None
    if not _output(out_dir, job, rename, line.get("output", "")).is_file():
        return None
    try:
        with no_warnings():
            instance = str(read(job.src, header_only=True).get("SOPInstanceUID", ""))
    except Exception:  # unreadable now: scrubbed again, and refused with its own reason
        return None
    if digest(policy.key, instance) != line.get("instance"):
        return None
    kept = {name: value for name, value in line.items() if name in _FIELDS and name != "rel"}
    kept["boxes"] = [[tuple(box) for box in frame] for frame in kept.get("boxes", [])]
    return FileReport(**{**kept, "rel": job.rel, "reason_code": RESUMED,
                         "reason": "delivered by an earlier run (--resume): not scrubbed again"})


def split(jobs: list[Job], audit: Path, out_dir: Path, policy: Policy, rename: Rename
          ) -> tuple[dict[str, FileReport], list[Job]]:
    """(reports of the jobs an earlier run delivered, by relative path; the jobs left to scrub).

    The first file of a layout is scrubbed again (the same bytes) when files of its layout are
    left: they are compared with it, as in the uninterrupted run, which the resumed run then
    matches file for file (``grouping``)."""
    from .grouping import layout_groups

    earlier = earlier_deliveries(audit, policy)
    done: dict[str, FileReport] = {}
    for job in jobs:
        report = delivered_before(job, earlier.get(digest(policy.key, job.rel)), out_dir, policy, rename)
        if report is not None:
            done[job.rel] = report
    if done and len(done) < len(jobs):
        for group in layout_groups(jobs, policy):
            if group[0].rel in done and any(job.rel not in done for job in group[1:]):
                del done[group[0].rel]
    return done, [job for job in jobs if job.rel not in done]


def hold_output(claims: Path, job: Job, report: FileReport, out_dir: Path, policy: Policy, rename: Rename) -> None:
    """Take a resumed file's output path in this run's claims, as scrubbing it would have: another
    input with that path is a ``duplicate_output``, not written over it."""
    claim(claims, _output(out_dir, job, rename, report.output), claim_owner(Path(job.src), job.rel, policy))


def _output(out_dir: Path, job: Job, rename: Rename, named: str) -> Path:
    """Where ``job``'s output is: under its relative path, or with ``--rename uid`` the path the
    audit ``named`` (pseudonyms and keyed UIDs)."""
    return out_dir / (named if rename == "uid" else job.rel)
