"""Where a run writes, checked before its first file: a place it cannot use would otherwise fail
every file of a long run one by one, or be found only at the end.

A folder inside an input folder is refused (its files would be read as inputs by the next run),
and so is a folder or file the run could not create or write. The check writes nothing that
stays: folders it makes to try them are removed again, so an unused quarantine leaves no trace.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def check_places(inputs: Iterable[Path], folders: Iterable[Path | None], files: Iterable[Path | None] = ()) -> None:
    """Raise ValueError, naming the place, for one of ``folders`` (output, quarantine, QA) or
    ``files`` (audit, table) that lies inside an input folder or cannot be written."""
    roots = [Path(p).resolve() for p in inputs if Path(p).is_dir()]
    folders = [Path(f) for f in folders if f is not None]
    files = [Path(f) for f in files if f is not None]
    for place in (*folders, *files):
        target = place.resolve()
        for root in roots:
            if target == root or root in target.parents:
                raise ValueError(f"{place} lies inside the input folder {root}")
    for folder in folders:
        _try_folder(folder)
    for file in files:
        if file.is_dir():
            raise ValueError(f"{file} is a folder, not a file")
        _try_folder(file.parent)
        if file.exists() and not os.access(file, os.W_OK):
            raise ValueError(f"{file} cannot be written (permission denied)")


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
