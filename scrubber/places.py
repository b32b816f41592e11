"""Where a run writes, checked before its first file: a place it cannot use would otherwise fail
every file of a long run one by one, or be found only at the end.

A folder inside an input folder is refused (its files would be read as inputs by the next run),
and so is a folder or file the run could not create or write. A place that holds what the run was
given is refused inside the output folder, which is what gets handed on: the quarantine keeps the
inputs as they came, QA pictures show each input's pixels beside the result, the table names the
input paths (which often hold patient names), a node's spool holds what it received. The check
writes nothing that stays: folders it makes to try them are removed again, so an unused quarantine
leaves no trace.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def check_places(inputs: Iterable[Path], folders: Iterable[Path | None], files: Iterable[Path | None] = (),
                 out: Path | None = None, private: Iterable[Path | None] = ()) -> None:
    """Raise ValueError, naming the place, for one of ``folders`` (output, quarantine, QA) or
    ``files`` (audit, table) that lies inside an input folder or cannot be written, or for one of
    ``private`` (quarantine, QA, table, spool: what the run was given) that is or lies inside
    ``out``, the output folder."""
    roots = [Path(p).resolve() for p in inputs if Path(p).is_dir()]
    folders = [Path(f) for f in folders if f is not None]
    files = [Path(f) for f in files if f is not None]
    for place in (*folders, *files):
        for root in roots:
            if _within(place, root):
                raise ValueError(f"{place} lies inside the input folder {root}")
    for place in (Path(p) for p in private if p is not None):
        if out is not None and _within(place, out.resolve()):
            raise ValueError(f"{place} lies inside the output folder {out}: it holds what the run was given, "
                             f"the output what is handed on")
    for folder in folders:
        _try_folder(folder)
    for file in files:
        if file.is_dir():
            raise ValueError(f"{file} is a folder, not a file")
        _try_folder(file.parent)
        if file.exists() and not os.access(file, os.W_OK):
            raise ValueError(f"{file} cannot be written (permission denied)")


def _within(place: Path, root: Path) -> bool:
    """``place`` is the folder ``root`` (resolved) or lies inside it."""
    target = place.resolve()
    return target == root or root in target.parents


def _try_folder(folder: Path) -> None:
    """Make ``folder`` (and its missing parents) and a file in it, then take away what was made."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".scrubber-try-"):
            pass
    except OSError as exc:
        raise ValueError(f"{folder} cannot be written ({exc.strerror or exc})") from None
    finally:
        for path in made:  # innermost first
            try:
                path.rmdir()
            except OSError:
                break
