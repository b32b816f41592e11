"""One input file to one output: read, scrub, write atomically, or quarantine with a reason."""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

from .audit import FileReport, reason_document
from .detect.registry import Detector
from .errors import DuplicateOutput, ScrubError, WriteFailed, is_failure
from .header import digest
from .naming import RENAMES, Rename, claim, held_values, uid_path
from .pipeline import scrub_dataset
from .pixels import render
from .policy import Policy
from .qa import write_png
from .quiet import no_warnings, silence_pydicom_logging
from .read import read
from .write import atomic_write, atomic_write_bytes


def scrub_file(src: Path, dst: Path, policy: Policy, *, rel: str | None = None,
               quarantine: Path | None = None, qa: Path | None = None,
               detector: Detector | None = None, rename: Rename = "keep",
               claims: Path | None = None) -> FileReport:
    """Clean ``src`` into ``dst``; on any doubt write nothing there and quarantine instead.

    ``quarantine`` and ``qa`` are folders; the file lands in them under ``rel`` (default: its name).
    ``rename="uid"``: ``dst`` is the output folder and the file is written under it at
    ``uid_path`` of the cleaned dataset (new PatientID and UIDs; the report's ``output``).
    ``claims`` (a folder shared by one run's workers): an output path already written by this run
    is not overwritten, the file is quarantined as ``duplicate_output``.
    """
    if rename not in RENAMES:
        raise ValueError(f"rename must be one of {RENAMES}, got {rename!r}")
    silence_pydicom_logging()
    with no_warnings():
        return _scrub_file(Path(src), Path(dst), policy, rel or Path(src).name, quarantine, qa, detector,
                           rename, claims)


def _scrub_file(src: Path, dst: Path, policy: Policy, rel: str, quarantine: Path | None, qa: Path | None,
                detector: Detector | None, rename: Rename = "keep", claims: Path | None = None) -> FileReport:
    started = time.perf_counter()
    report = FileReport(rel=rel, decision="delivered")
    try:
        if rename == "keep" and src.resolve() == dst.resolve():
            raise WriteFailed("output path is the input path; inputs are never modified")
        ds = read(src)
        report.syntax_in = str(ds.file_meta.TransferSyntaxUID)
        report.instance = digest(policy.key, str(ds.get("SOPInstanceUID", "")))
        if rename == "keep":
            report.path_holds = held_values(rel, ds)
        result = scrub_dataset(ds, policy, detector, keep_pixels=qa is not None)
        report = dataclasses.replace(
            report, frames=result.frames, boxes=[list(map(tuple, f)) for f in result.boxes],
            detectors=result.detectors, backend=result.backend, frames_read=result.frames_read,
            read_scale=result.read_scale, pixels_changed=result.pixels_changed,
            unused_bits_cleared=result.unused_bits_cleared, encode_method=result.encode_method,
            encode_tolerance=result.encode_tolerance, encode_changes=result.encode_changes,
            pixels_in_boxes=result.pixels_in_boxes, pixels_blanked=result.pixels_blanked,
            syntax_out=result.syntax_out, header_counts=result.header_counts,
            header_options=sorted(policy.header_options), timings=result.timings)
        if rename == "uid":
            name = uid_path(result.dataset)
            report.output = name.as_posix()  # pseudonyms and keyed UIDs only
            dst = dst / name
            if src.resolve() == dst.resolve():
                raise WriteFailed("output path is the input path; inputs are never modified")
        if claims is not None and not claim(claims, dst, claim_owner(src, rel, policy)):
            raise DuplicateOutput("another input of this run already has this output path; not overwritten")
        if qa is not None and result.before is not None and result.after is not None:
            after = dataclasses.replace(result.before, stored=result.after, photometric=result.after_photometric)
            write_png(qa / f"{rel}.png", render.full(result.before, ds), render.full(after, result.dataset),
                      result.boxes, pages=result.frames_read == "pages")
        clock = time.perf_counter()
        try:
            atomic_write(dst, lambda handle: result.dataset.save_as(handle, enforce_file_format=True))
        except Exception as exc:
            raise WriteFailed(f"writing the output failed ({_why(exc)})") from None
        report.timings["write"] = time.perf_counter() - clock
    except ScrubError as exc:
        report = dataclasses.replace(report, decision="quarantined", reason_code=exc.code, reason=exc.message,
                                     frames=0, boxes=[], pixels_changed=False, syntax_out="")
    except BaseException as exc:  # a bug must not deliver a file nor stop the batch
        if not is_failure(exc):
            raise  # KeyboardInterrupt, SystemExit: the user stops the run
        report = dataclasses.replace(report, decision="failed", reason_code="internal_error",
                                     reason=f"unexpected {type(exc).__name__}", frames=0, boxes=[],
                                     pixels_changed=False, syntax_out="")
    if report.decision != "delivered" and quarantine is not None:
        quarantine_copy(src, quarantine / rel, report)
    report.seconds = time.perf_counter() - started
    return report


def _why(exc: BaseException) -> str:
    """The exception's type and the system's words for it (no space left, permission denied) from
    it or what it wraps (pydicom re-raises with the tag); never its message, which names the path."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return f"{type(exc).__name__}: {cause.strerror}"
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


def claim_owner(src: Path, rel: str, policy: Policy) -> str:
    """Who claims an output path: this input (its path and output-relative path, keyed digest, no
    PHI on disk); a task run again for the same input may claim it again."""
    return digest(policy.key, f"{src.absolute()}\n{rel}")


def quarantine_copy(src: Path, target: Path, report: FileReport) -> None:
    """Keep a copy of the input and a reason file (JSON, no PHI) side by side."""
    with src.open("rb") as original:
        atomic_write(target, lambda handle: shutil.copyfileobj(original, handle))
    reason = json.dumps(reason_document(report), indent=2, sort_keys=True).encode()
    atomic_write_bytes(target.with_name(target.name + ".reason.json"), reason)


def kept_in_quarantine(src: Path, target: Path, report: FileReport) -> FileReport:
    """``report`` once ``src`` is copied to quarantine; where the copy cannot be made (a full disk,
    the input gone), the report says so instead (failed, ``quarantine_failed``) and a batch goes on:
    the input itself stays where it is, as every input does."""
    try:
        quarantine_copy(src, target, report)
    except OSError as exc:
        target.unlink(missing_ok=True)
        return dataclasses.replace(report, decision="failed", reason_code="quarantine_failed",
                                   reason=f"{report.reason}; its quarantine copy could not be written ({_why(exc)})")
    return report
