"""Output names for `--rename uid`: paths made only of the cleaned header's pseudonyms and keyed
UIDs (input paths often hold patient names), and a per-run claim so no output is written twice.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Literal

Rename = Literal["keep", "uid"]
RENAMES = ("keep", "uid")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_COMPONENT = 128


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
