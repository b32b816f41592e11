"""Score any tool's output files with one scorer: recall, over-redaction, syntax kept, header PHI left.

The same function judges scrubber's outputs and a peer's, so the rows compare like with like. A
file the tool did not deliver (it raised, refused, or wrote something unreadable) is counted as
not delivered with its reason, and none of its text counts as removed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pydicom
from pydicom.uid import UID

from scrubber.evaluate import score_file
from scrubber.header.leaks import encodings_of, find_leaks, phi_values, searchable


US_IMAGE, US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.6.", "1.2.840.10008.5.1.4.1.1.3."  # and retired kin
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # and its multi-frame variants (.7.1 to .7.4)


def header_leaks(before: pydicom.Dataset, output: Path) -> list[str]:
    """Attributes (names only) whose identifying input value occurs in the output file's bytes."""
    return sorted(find_leaks(phi_values(before), searchable(output.read_bytes()), encodings=encodings_of(before)))


def kind_of(ds: pydicom.Dataset) -> str:
    """The kind of input a user would name: ultrasound frame or clip, secondary capture, other."""
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    sop = str(getattr(ds, "SOPClassUID", ""))
    if getattr(ds, "Modality", "") == "US" or sop.startswith((US_IMAGE, US_MULTIFRAME)):
        return "US clip" if frames > 1 else "US frame"
    if sop.startswith(SECONDARY_CAPTURE):
        return "secondary capture"
    return "other"


def _syntax_name(uid: str) -> str:
    return UID(uid).name if uid else ""


def score_output(src: Path, output: Path | None, entry: Mapping[str, Any], reason: str = "") -> dict[str, Any]:
    """One row: what the tool made of ``src`` (its truth ``entry``), judged on ``output``.

    ``output`` None (or a file that cannot be read back with the same geometry) means not
    delivered; ``reason`` says why.
    """
    before = pydicom.dcmread(src)
    boxes = list(entry.get("boxes", []))
    row: dict[str, Any] = {
        "file": src.name, "kind": kind_of(before), "text_free": bool(entry.get("text_free")),
        "frames": int(getattr(before, "NumberOfFrames", 1) or 1),
        "boxes": len(boxes), "phi_boxes": sum(1 for b in boxes if b.get("phi", True)),
        "removed": 0, "phi_removed": 0, "found": 0, "over_redaction": None, "unchanged": None,
        "syntax_in": _syntax_name(str(before.file_meta.TransferSyntaxUID)), "syntax_out": "",
        "syntax_kept": False, "header_leaks": [], "delivered": False, "reason": reason, "missed": [],
    }
    if output is None or not output.exists():
        row["reason"] = reason or "no output written"
        return row
    try:
        after = pydicom.dcmread(output)
        score = score_file(before, after, entry)
    except Exception as exc:  # written but not a readable image of the same geometry: not delivered
        first = (str(exc).splitlines() or [""])[0][:120]
        row["reason"] = f"output unreadable ({type(exc).__name__}: {first})"
        return row
    syntax_out = str(after.file_meta.TransferSyntaxUID)
    row.update(
        delivered=True, removed=score.removed, phi_removed=score.phi_removed, found=score.found,
        over_redaction=round(score.over_redaction, 5), unchanged=score.unchanged,
        syntax_out=_syntax_name(syntax_out), syntax_kept=syntax_out == str(before.file_meta.TransferSyntaxUID),
        header_leaks=header_leaks(before, output),
        missed=[[m.index, m.frame, m.style, round(m.residual, 3), m.phi] for m in score.missed],
    )
    return row


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall over every box of every file (undelivered files count as missed), and the rest."""
    text = [r for r in rows if not r["text_free"]]
    delivered_text = [r for r in text if r["delivered"]]
    free = [r for r in rows if r["text_free"]]
    boxes, phi = sum(r["boxes"] for r in rows), sum(r["phi_boxes"] for r in rows)
    return {
        "files": len(rows), "delivered": sum(r["delivered"] for r in rows),
        "text_removed": sum(r["removed"] for r in rows), "text_boxes": boxes,
        "text_recall": round(sum(r["removed"] for r in rows) / boxes, 4) if boxes else None,
        "phi_removed": sum(r["phi_removed"] for r in rows), "phi_boxes": phi,
        "text_found": sum(r["found"] for r in rows),
        "phi_recall": round(sum(r["phi_removed"] for r in rows) / phi, 4) if phi else None,
        "max_over_redaction": max((r["over_redaction"] for r in delivered_text), default=None),
        "mean_over_redaction": (round(sum(r["over_redaction"] for r in delivered_text) / len(delivered_text), 5)
                                if delivered_text else None),
        "text_free_changed": sum(1 for r in free if r["delivered"] and not r["unchanged"]),
        "text_free_delivered": sum(1 for r in free if r["delivered"]),
        "text_free": len(free),
        "syntax_kept": sum(r["syntax_kept"] for r in rows if r["delivered"]),
        "files_with_header_leaks": sum(bool(r["header_leaks"]) for r in rows if r["delivered"]),
    }
