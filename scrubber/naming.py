"""Output names for `--rename uid`: paths made only of the cleaned header's pseudonyms and keyed
UIDs (input paths often hold patient names), and a per-run claim so no output is written twice;
with `--rename keep`, which of the input header's identifying values an output path holds.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Literal

from pydicom.multival import MultiValue

Rename = Literal["keep", "uid"]
RENAMES = ("keep", "uid")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_COMPONENT = 128
_WORD = re.compile(r"[A-Za-z0-9]+")
NAMED = ("PatientName",)  # a path word equal to a word of these (2 characters or more) holds them ...
HELD = ("PatientID", "OtherPatientIDs", "AccessionNumber", "PatientBirthDate", "StudyInstanceUID",
        "SeriesInstanceUID", "SOPInstanceUID")  # ... and a path holds these where it holds a whole value
MIN_HELD = 4  # characters: shorter values are not looked for (an ID "12" is in too many names)


def safe_component(value: object, missing: str, limit: int = MAX_COMPONENT) -> str:
    """One path component from a header value: [A-Za-z0-9._-] only, never empty, "." or "..".

    Anything else becomes "_"; an empty value becomes ``missing``; a value over ``limit`` chars
    keeps its head and ends with 16 hex digits of its SHA-256, so distinct values stay distinct.
    """
    text = _UNSAFE.sub("_", str(value if value is not None else "").strip())
    if not text:
        return missing
    if text in (".", ".."):
        return "_" * len(text)
    if len(text) > limit:
        text = f"{text[:limit - 17]}_{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    return text


def uid_path(ds) -> Path:
    """``<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` of a (cleaned) dataset."""
    return Path(safe_component(ds.get("PatientID", ""), "NO_PATIENT_ID"),
                safe_component(ds.get("StudyInstanceUID", ""), "NO_STUDY_UID"),
                safe_component(ds.get("SeriesInstanceUID", ""), "NO_SERIES_UID"),
                safe_component(ds.get("SOPInstanceUID", ""), "NO_SOP_UID", MAX_COMPONENT - 4) + ".dcm")


def held_values(rel: str, ds) -> list[str]:
    """The keywords of the identifying elements of ``ds`` (an input's header) whose values the
    output path ``rel`` holds: exports name folders and files by patient name, ID or UID, and with
    ``--rename keep`` the output mirrors those names into the tree that is handed on. Names match
    by whole words (``DOE_JANE``, ``US1_UNCR`` for "CompressedSamples^US1"), other values as whole
    words or, where they hold separators (UIDs), as they are. Keywords only, never values."""
    text = rel.lower()
    words = {word.lower() for word in _WORD.findall(rel)}
    found = []
    for keyword in NAMED:
        parts = {word.lower() for word in _WORD.findall(str(ds.get(keyword, "") or "")) if len(word) >= 2}
        if parts & words:
            found.append(keyword)
    for keyword in HELD:
        value = ds.get(keyword)
        values = value if isinstance(value, (list, tuple, MultiValue)) else [] if value is None else [value]
        for item in (str(v).strip().lower() for v in values):
            if len(item) >= MIN_HELD and (item in words or (not item.isalnum() and item in text)):
                found.append(keyword)
                break
    return found


def claim(claims: Path, dst: Path, owner: str = "") -> bool:
    """Reserve ``dst`` for this run (atomic across worker processes); False when another input
    holds it. The same non-empty ``owner`` (an input's keyed digest) may claim it again, so a Dask
    task that is run a second time after its worker died rewrites its own outputs."""
    name = claims / hashlib.sha256(os.fsencode(os.path.abspath(dst))).hexdigest()
    fd, staged = tempfile.mkstemp(dir=claims, prefix=".claim-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(owner)
        os.link(staged, name)  # fails if the name exists, atomically, on local and network file systems
    except FileExistsError:
        return bool(owner) and name.read_text() == owner
    finally:
        os.unlink(staged)
    return True
