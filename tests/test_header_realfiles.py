"""The header stage on real files, checked from the outside: no identifying input value in the
output bytes, UIDs replaced and consistent, same key same bytes, and outputs that dcmdump reads
and dciodvfy finds no worse than the inputs. The checks live in scrubber.header.leaks and are
shared with benchmarks/header.py, which runs them on every test file."""
from __future__ import annotations

import copy
import hashlib
import io
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom._uid_dict import UID_dictionary
from pydicom.charset import convert_encodings
from pydicom.dataset import Dataset

from scrubber.header import clean_header
from scrubber.header.leaks import find_leaks, phi_values, searchable, uid_pairs, validator_errors
from scrubber.policy import Policy

from .util import data_path

KEY = b"scrubber-realfiles-test-key-0001"
OTHER_KEY = b"scrubber-realfiles-test-key-0002"

# US, SC, MR/CT (enhanced MR and CT with functional groups and derivation references too), RT,
# SR, waveform, and private sequences nested in private sequences; rtstruct.dcm has no preamble
# and nested_priv_SQ.dcm no SOP Class / Instance UID.
FILES = [
    "US1_UNCR.dcm",
    "OBXXXX1A.dcm",
    "color3d_jpeg_baseline.dcm",
    "examples_ybr_color.dcm",
    "SC_rgb.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "emri_small.dcm",
    "liver_1frame.dcm",
    "CT_small.dcm",
    "rtplan.dcm",
    "rtstruct.dcm",
    "test-SR.dcm",
    "waveform_ecg.dcm",
    "nested_priv_SQ.dcm",
]

_VALID_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
needs_dcmdump = pytest.mark.skipif(
    shutil.which("dcmdump") is None,
    reason="dcmdump not found: install dcmtk (apt-get install dcmtk)")
needs_dciodvfy = pytest.mark.skipif(
    shutil.which("dciodvfy") is None,
    reason="dciodvfy not found: install dicom3tools (apt-get install dicom3tools)")


@dataclass
class Cleaned:
    """One input file and its cleaned output (bytes, and the file the tools read)."""

    source: Path
    input: Dataset
    data: bytes
    path: Path


def _write(ds: Dataset, part10: bool) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=part10)
    return buffer.getvalue()


def _part10(ds: Dataset) -> bool:
    """Whether the input can be written as a Part 10 file at all; a file without SOP Class and
    Instance UIDs (nested_priv_SQ.dcm) cannot, before or after cleaning, so it is written as is."""
    try:
        _write(copy.deepcopy(ds), True)
    except (AttributeError, ValueError):
        return False
    return True


def _clean(ds: Dataset, key: bytes) -> bytes:
    out = copy.deepcopy(ds)
    clean_header(out, Policy(key=key), pixels_cleaned=False)
    return _write(out, _part10(ds))


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    """name -> Cleaned, each file cleaned once per module (and only when a test asks)."""
    folder = tmp_path_factory.mktemp("header_realfiles")
    cache: dict[str, Cleaned] = {}

    def get(name: str) -> Cleaned:
        if name not in cache:
            source = data_path(name)
            ds = pydicom.dcmread(source, force=True)
            path = folder / name
            data = _clean(ds, KEY)
            path.write_bytes(data)
            cache[name] = Cleaned(source, ds, data, path)
        return cache[name]

    return get


def _encodings(ds: Dataset) -> list[str]:
    try:
        return convert_encodings(ds.get("SpecificCharacterSet") or "")
    except Exception:
        return []


def _pairs(ds: Dataset, data: bytes) -> list[tuple[str, str]]:
    return uid_pairs(ds, pydicom.dcmread(io.BytesIO(data), force=True))


def _meta_repair(ds: Dataset) -> str:
    """The meta's instance UID when it differs from the data set's: a cleaner may set it to the
    cleaned SOP Instance UID (Part 10 wants them equal), so it is left out of the consistency map."""
    meta = getattr(ds, "file_meta", None)
    meta_uid = str(meta.get("MediaStorageSOPInstanceUID", "")) if meta is not None else ""
    return meta_uid if meta_uid and meta_uid != str(ds.get("SOPInstanceUID", meta_uid)) else ""


def _dciodvfy(path: Path) -> list[str]:
    done = subprocess.run(["dciodvfy", str(path)], capture_output=True, timeout=60)
    return validator_errors((done.stdout + done.stderr).decode("latin-1"))


@pytest.mark.parametrize("name", FILES)
def test_no_identifying_value_in_output_bytes(cleaned, name):
    c = cleaned(name)
    leaks = find_leaks(phi_values(c.input), searchable(c.data), encodings=_encodings(c.input))
    assert leaks == [], f"{name}: values of these input attributes are in the output: {leaks}"


@pytest.mark.parametrize("name", FILES)
def test_uids_replaced_with_valid_keyed_uids(cleaned, name):
    c = cleaned(name)
    pairs = _pairs(c.input, c.data)
    if "SOPInstanceUID" in c.input:
        assert pairs, f"{name}: no instance UID survived to be compared"
    instance = [(old, new) for old, new in pairs if old not in UID_dictionary]
    unchanged = sum(old == new for old, new in instance)
    invalid = sum(not (len(new) <= 64 and _VALID_UID.match(new)) for _, new in instance)
    known_changed = sum(old != new for old, new in pairs if old in UID_dictionary)
    assert (unchanged, invalid, known_changed) == (0, 0, 0), (
        f"{name}: {unchanged} instance UIDs unchanged, {invalid} invalid, "
        f"{known_changed} well-known UIDs changed")
    other = _pairs(c.input, _clean(c.input, OTHER_KEY))
    assert len(other) == len(pairs)
    same = sum(a[1] == b[1] for a, b in zip(pairs, other) if a[0] not in UID_dictionary)
    assert same == 0, f"{name}: {same} UIDs do not depend on the key"


@pytest.mark.parametrize("name", FILES)
def test_same_key_gives_identical_bytes(cleaned, name):
    c = cleaned(name)
    again = _clean(c.input, KEY)
    assert hashlib.sha256(again).digest() == hashlib.sha256(c.data).digest(), f"{name}: bytes differ"


def test_uids_consistent_across_files(cleaned):
    """One input UID, wherever it appears (SOP Instance UID here, a reference there), gets one
    output UID, and no two input UIDs share one (color3d_jpeg_baseline and examples_ybr_color
    share three UIDs)."""
    outputs: dict[str, set[str]] = {}
    files_of: dict[str, set[str]] = {}
    for name in FILES:
        c = cleaned(name)
        repaired = _meta_repair(c.input)
        for old, new in _pairs(c.input, c.data):
            if repaired and old == repaired:
                continue
            outputs.setdefault(old, set()).add(new)
            files_of.setdefault(old, set()).add(name)
    split = sorted(sorted(files_of[old]) for old, news in outputs.items() if len(news) > 1)
    sources = Counter(new for news in outputs.values() for new in news)
    merged = sum(n > 1 for n in sources.values())
    assert split == [] and merged == 0, f"UIDs with several outputs in {split}; {merged} outputs shared"


@needs_dcmdump
@pytest.mark.parametrize("name", FILES)
def test_dcmdump_reads_output(cleaned, name):
    c = cleaned(name)
    done = subprocess.run(["dcmdump", str(c.path)], capture_output=True, timeout=60)
    assert done.returncode == 0, f"{name}: dcmdump exit code {done.returncode}"


@needs_dciodvfy
@pytest.mark.parametrize("name", FILES)
def test_dciodvfy_errors_not_more_than_input(cleaned, name):
    c = cleaned(name)
    before, after = _dciodvfy(c.source), _dciodvfy(c.path)
    new = sorted((Counter(after) - Counter(before)).elements())
    assert len(after) <= len(before), f"{name}: {len(before)} -> {len(after)} errors; new: {new}"
