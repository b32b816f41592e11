"""Audit records: what was done to each file, with hashes instead of any identifying value."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from .header import digest


@dataclass
class FileReport:
    """Outcome of one input file; picklable, holds no PHI except ``rel`` (the relative path).

    ``rel`` is shown to the operator only; the audit stores its keyed digest instead.
    """

    rel: str
    decision: str  # delivered | quarantined (could not be cleaned) | failed (scrubber fault)
    reason_code: str = ""
    reason: str = ""
    frames: int = 0
    boxes: list[list[tuple[int, int, int, int]]] = field(default_factory=list)
    detectors: list[str] = field(default_factory=list)  # e.g. craft, craft-motion, layout-reference, rule:NAME
    backend: str = ""  # the detector's runtime (onnx | torch)
    frames_read: str = ""  # image | clip | pages (a multi-frame file's frames each read as a single image)
    read_scale: float = 1.0  # the size its frames were read at (0.5: a large scanned page, detect/scanned.py)
    pixels_changed: bool = False
    unused_bits_cleared: bool = False
    encode_method: str = ""  # jpeg_dct: boxes grown to whole blocks (8x8 luma, chroma by MCU)
    pixels_in_boxes: int = 0  # pixels inside the boxes, summed over frames
    pixels_blanked: int = 0  # pixels blanked: more than in the boxes where jpeg_dct grew them to blocks
    encode_tolerance: int = 0  # same_near: re-encoded frames within this of the redacted pixels
    encode_changes: list[str] = field(default_factory=list)  # JPEG 2000 coding parameters not kept
    syntax_in: str = ""
    syntax_out: str = ""
    header_counts: dict[str, int] = field(default_factory=dict)  # elements per action kind
    header_options: list[str] = field(default_factory=list)  # Annex E options applied
    timings: dict[str, float] = field(default_factory=dict)
    instance: str = ""  # keyed digest of the input SOP Instance UID
    # --rename uid only: the output's path relative to OUT (new PatientID and keyed UIDs, no PHI);
    # for duplicate_output, the path another input of the run already took. Empty with keep.
    output: str = ""
    # --rename keep only: keywords of the input header's identifying elements whose values the
    # output path holds (``naming.held_values``: a patient's name or ID, a UID), never the values
    path_holds: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def boxes_removed(self) -> int:
        return sum(len(b) for b in self.boxes)


def record(report: FileReport, key: bytes) -> dict:
    """The audit line for one file: the input path is replaced by its keyed digest.

    ``output`` (a path made of pseudonyms and keyed UIDs, set with --rename uid) stays in clear.
    """
    line = asdict(report)
    line["file"] = digest(key, report.rel)
    del line["rel"]
    line["boxes_removed"] = report.boxes_removed
    return line


def reason_document(report: FileReport) -> dict:
    """The JSON that sits beside a quarantined file: why, in words and as a stable code."""
    document = {"decision": report.decision, "reason_code": report.reason_code, "reason": report.reason,
                "instance": report.instance, "syntax_in": report.syntax_in}
    if report.output:  # --rename uid: pseudonyms and keyed UIDs only
        document["output"] = report.output
    return document


class AuditLog:
    """Append-only JSONL audit of a run, flushed per line so an interrupted run keeps its record."""

    def __init__(self, path: Path, key: bytes, settings: str = "") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.settings = settings  # Policy.settings_digest(): which settings made each line's file
        self.handle: IO[str] = path.open("a", encoding="utf-8")
        if _ends_mid_line(path):  # a run stopped while writing: its half line must not swallow our first
            self.handle.write("\n")

    def write(self, report: FileReport) -> None:
        line = record(report, self.key)
        if self.settings:
            line["settings"] = self.settings
        self.handle.write(json.dumps(line, sort_keys=True) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def _ends_mid_line(path: Path) -> bool:
    with path.open("rb") as handle:
        if handle.seek(0, 2) == 0:
            return False
        handle.seek(-1, 2)
        return handle.read(1) != b"\n"


TABLE_COLUMNS = ("file", "decision", "reason_code", "reason", "frames", "boxes", "seconds")


def report_table(reports: Iterable[FileReport]) -> list[dict]:
    """One row per file for the operator (the relative path, as on the console; the audit keeps
    digests instead): decision, reason, frames, boxes removed, seconds."""
    return [{"file": r.rel, "decision": r.decision, "reason_code": r.reason_code, "reason": r.reason,
             "frames": r.frames, "boxes": r.boxes_removed, "seconds": round(r.seconds, 3)} for r in reports]


def write_table(reports: Iterable[FileReport], path: str | Path) -> None:
    """The table as CSV (``scrubber run --table FILE``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TABLE_COLUMNS)
        writer.writeheader()
        writer.writerows(report_table(reports))
