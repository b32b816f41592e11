"""The header stage alone on every real test file of pydicom and pydicom-data: leaks, UIDs, validity.

    .venv/bin/python benchmarks/header.py [--json benchmarks/results/header.json] [--limit N]

Each readable file (DICOMDIR excepted) is cleaned as a deep copy with a fixed key and written
with enforce_file_format=True. Then: which identifying input values occur in the output bytes
(scrubber.header.leaks), whether instance UIDs changed and map consistently across files and
runs, whether the output is byte-identical on a second run and has other UIDs under another
key, whether dciodvfy reports more errors than for the input, and whether dcmdump reads it.
Only file names, tags, counts and value-free validator messages are printed or written.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import logging
import re
import subprocess
import sys
import tempfile
import warnings
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import pydicom
import pydicom.data
from pydicom._uid_dict import UID_dictionary
from pydicom.dataset import Dataset

from machine import machine
import scrubber.header.clean as clean_module
from scrubber.errors import HeaderFailed
from scrubber.header import clean_header
from scrubber.header.leaks import encodings_of, find_leaks, phi_values, searchable, uid_pairs, validator_errors
from scrubber.policy import Policy

KEY = b"scrubber-header-benchmark-key-01"
OTHER_KEY = b"scrubber-header-benchmark-key-02"
DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"
TOOL_TIMEOUT_S = 120
_VALID_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


@dataclass
class Row:
    """One input file; ``status``: ok, unreadable, dicomdir, header_failed, header_crashed or
    write_failed (``reason``: the exception type, or HeaderFailed's value-free message)."""

    file: str
    status: str = "ok"
    reason: str = ""
    leaks: list[str] = field(default_factory=list)
    uids_unchanged: int = 0
    uids_invalid: int = 0
    uids_same_under_other_key: int = 0
    meta_uid_differs_in_input: bool = False
    deterministic: bool | None = None
    errors_in: int | None = None
    errors_out: int | None = None
    new_errors: list[str] = field(default_factory=list)
    dcmdump_ok: bool | None = None


def input_files() -> list[tuple[str, Path]]:
    """(name, path) of every file pydicom's get_testdata_files knows (pydicom-data included)."""
    base = Path(pydicom.data.__file__).parent / "test_files"
    out = []
    for text in pydicom.data.get_testdata_files():
        path = Path(text)
        if not path.is_file():
            continue
        if path.is_relative_to(base):
            out.append((f"pydicom/{path.relative_to(base)}", path))
        else:
            out.append((f"pydicom-data/{path.name}", path))
    return sorted(out)


def dciodvfy(path: Path) -> list[str]:
    """Value-free Error lines of dciodvfy (it reports on stderr)."""
    try:
        done = subprocess.run(["dciodvfy", str(path)], capture_output=True, timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return ["Error - dciodvfy timed out"]
    return validator_errors((done.stdout + done.stderr).decode("latin-1"))


def dcmdump_ok(path: Path) -> bool:
    try:
        done = subprocess.run(["dcmdump", str(path)], capture_output=True, timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def clean(ds: Dataset, key: bytes, options: frozenset[str] = frozenset()) -> Dataset:
    """A cleaned deep copy: the header stage never sees the input itself."""
    out = copy.deepcopy(ds)
    clean_header(out, Policy(key=key, header_options=options), pixels_cleaned=False)
    return out


def written(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def input_fails_too(ds: Dataset) -> str:
    """Say so when the input itself cannot be written as a Part 10 file: not the header's fault."""
    try:
        written(copy.deepcopy(ds))
    except Exception:
        return " (the input fails too)"
    return ""


def check(name: str, path: Path, folder: Path, uid_map: dict[str, dict[str, set[str]]],
          options: frozenset[str] = frozenset()) -> Row:
    """All checks on one file; ``uid_map`` collects input UID -> output UID -> files."""
    row = Row(name)
    try:
        ds = pydicom.dcmread(path, force=False)
    except Exception as exc:
        row.status, row.reason = "unreadable", type(exc).__name__
        return row
    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == DIRECTORY_STORAGE:
        row.status = "dicomdir"
        return row
    try:
        out = clean(ds, KEY, options)
    except HeaderFailed as exc:
        row.status, row.reason = "header_failed", str(exc)
        return row
    except Exception as exc:
        # clean_header promises HeaderFailed for everything it cannot clean.
        row.status, row.reason = "header_crashed", type(exc).__name__
        return row
    try:
        data = written(out)
    except Exception as exc:
        row.status, row.reason = "write_failed", type(exc).__name__ + input_fails_too(ds)
        return row
    target = folder / name.replace("/", "__")
    target.write_bytes(data)
    row.leaks = find_leaks(phi_values(ds), searchable(data), encodings=encodings_of(ds))
    row.deterministic = written(clean(ds, KEY, options)) == data
    pairs = uid_pairs(ds, pydicom.dcmread(io.BytesIO(data)))
    other = uid_pairs(ds, pydicom.dcmread(io.BytesIO(written(clean(ds, OTHER_KEY, options)))))
    # Part 10 wants the meta's instance UID equal to the data set's; a cleaner that repairs a
    # mismatch maps two input UIDs to one output, which is not an inconsistency across files.
    meta_uid = str(meta.get("MediaStorageSOPInstanceUID", "")) if meta is not None else ""
    row.meta_uid_differs_in_input = bool(meta_uid) and meta_uid != str(ds.get("SOPInstanceUID", meta_uid))
    for old, new in pairs:
        if not (row.meta_uid_differs_in_input and old == meta_uid):
            uid_map[old].setdefault(new, set()).add(name)
        if old in UID_dictionary:
            continue
        row.uids_unchanged += new == old
        row.uids_invalid += not (len(new) <= 64 and _VALID_UID.match(new))
    if len(other) == len(pairs):
        row.uids_same_under_other_key = sum(
            a[1] == b[1] for a, b in zip(pairs, other) if a[0] not in UID_dictionary)
    errors_in, errors_out = dciodvfy(path), dciodvfy(target)
    row.errors_in, row.errors_out = len(errors_in), len(errors_out)
    if row.errors_out > row.errors_in:
        row.new_errors = sorted((Counter(errors_out) - Counter(errors_in)).elements())
    row.dcmdump_ok = dcmdump_ok(target)
    return row


def uid_conflicts(uid_map: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Files in which one input UID got different outputs, or two input UIDs the same output."""
    conflicts = []
    for outputs in uid_map.values():
        if len(outputs) > 1:
            conflicts.append(sorted(set().union(*outputs.values())))
    inputs_of: dict[str, set[str]] = defaultdict(set)
    files_of: dict[str, set[str]] = defaultdict(set)
    for old, outputs in uid_map.items():
        for new, files in outputs.items():
            inputs_of[new].add(old)
            files_of[new] |= files
    conflicts += [sorted(files_of[new]) for new, olds in inputs_of.items() if len(olds) > 1]
    return conflicts


def tool_version(command: list[str], prefix: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    for line in (done.stdout + done.stderr).splitlines():
        if line.startswith(prefix):
            return line.strip()
    return "unknown"


def summary(rows: list[Row], conflicts: list[list[str]]) -> dict[str, object]:
    done = [r for r in rows if r.status == "ok"]
    leaks: dict[str, list[str]] = defaultdict(list)
    for r in done:
        for tag in r.leaks:
            leaks[tag].append(r.file)
    new_errors: dict[str, list[str]] = defaultdict(list)
    for r in done:
        for message in sorted(set(r.new_errors)):
            new_errors[message].append(r.file)
    return {
        "files": len(rows),
        "status": dict(Counter(r.status for r in rows)),
        "files_with_leaks": sum(bool(r.leaks) for r in done),
        "leaks": dict(sorted(leaks.items(), key=lambda kv: (-len(kv[1]), kv[0]))),
        "files_with_unchanged_uids": sum(r.uids_unchanged > 0 for r in done),
        "files_with_invalid_uids": sum(r.uids_invalid > 0 for r in done),
        "files_same_uids_under_other_key": sum(r.uids_same_under_other_key > 0 for r in done),
        "files_meta_uid_differs_in_input": sum(r.meta_uid_differs_in_input for r in done),
        "files_not_deterministic": sum(r.deterministic is False for r in done),
        "uid_conflicts": conflicts,
        "files_more_dciodvfy_errors": sum((r.errors_out or 0) > (r.errors_in or 0) for r in done),
        "dciodvfy_errors_in": sum(r.errors_in or 0 for r in done),
        "dciodvfy_errors_out": sum(r.errors_out or 0 for r in done),
        "files_dcmdump_failed": sum(r.dcmdump_ok is False for r in done),
        "new_dciodvfy_errors": dict(sorted(new_errors.items(), key=lambda kv: -len(kv[1]))),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--option", action="append", default=[],
                        help="an Annex E option (repeatable); leaks then include what the option keeps")
    args = parser.parse_args()
    options = frozenset(o.replace("-", "_") for o in args.option)
    # pydicom's warnings and log records quote the values they complain about.
    warnings.simplefilter("ignore")
    logging.getLogger("pydicom").disabled = True
    files = input_files()[: args.limit]
    uid_map: dict[str, dict[str, set[str]]] = defaultdict(dict)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in files:
            row = check(name, path, Path(tmp), uid_map, options)
            rows.append(row)
            if row.status == "ok":
                flags = " ".join(f for f, bad in (("NONDETERMINISTIC", not row.deterministic),
                                                  ("UID_UNCHANGED", row.uids_unchanged),
                                                  ("UID_INVALID", row.uids_invalid),
                                                  ("KEY_IGNORED", row.uids_same_under_other_key)) if bad)
                print(f"leaks {len(row.leaks):2d}  errors {row.errors_in:3d} -> {row.errors_out:3d}  "
                      f"dcmdump {'ok ' if row.dcmdump_ok else 'BAD'}  {name} {flags}".rstrip(), flush=True)
            else:
                print(f"{row.status:13s} {row.reason}  {name}", flush=True)
    totals = summary(rows, uid_conflicts(uid_map))
    print(json.dumps(totals, indent=1, ensure_ascii=False))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "benchmark": "header", "date": date.today().isoformat(),
            "command": " ".join(["benchmarks/header.py", *sys.argv[1:]]),
            "machine": machine(), "header_options": sorted(options),
            "versions": {
                "pydicom": pydicom.__version__,
                "dcmtk": tool_version(["dcmdump", "--version"], "$dcmtk").strip("$ ").removeprefix("dcmtk: "),
                "dicom3tools": tool_version(["dciodvfy", "-version"], "dicom3tools Version"),
                "clean_py_sha256": hashlib.sha256(Path(clean_module.__file__).read_bytes()).hexdigest(),
            },
            "totals": totals,
            "files": [asdict(r) for r in rows],
        }, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
