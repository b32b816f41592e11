"""Header cleaning after PS3.15 Annex E: the Basic Profile plus the options the Policy selects.

Table E.1-1 (annex_e.toml) says what to do with every attribute it lists, at every depth; the
combined codes are resolved by the attribute's type in the file's IOD (iod.py). Attributes it
does not list fall to rules that err on the side of removal: UIDs get keyed replacements, person
names, dates and times are emptied (unless a date option keeps them), public elements of unknown
type are removed. Overlay and curve groups go as a whole; private elements go unless the Retain
Safe Private option names them. An element whose value cannot be read is removed.

Errors never carry attribute values, only tags: a message may end up in logs and reports.
"""
from __future__ import annotations

import tomllib
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from pydicom._uid_dict import UID_dictionary
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

from scrubber.errors import HeaderFailed
from scrubber.header.dates import shift_da, shift_dt
from scrubber.header.iod import resolve, types_for
from scrubber.header.pseudonym import date_offset_days, pseudonym, uid_for
from scrubber.header.table import ActionTable, load_table
from scrubber.header.text import clean_text, identifying_tokens
from scrubber.policy import Policy

IMPLEMENTATION_CLASS_UID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'urn:scrubber:implementation:0.1').int}"
IMPLEMENTATION_VERSION_NAME = "SCRUBBER_0_1"
SAFE_PRIVATE_PATH = Path(__file__).with_name("safe_private.toml")

# DeidentificationMethod is LO (at most 64 characters per value), hence one value per statement.
METHOD = "scrubber 0.1: PS3.15 Annex E Basic Profile"
METHOD_PIXELS = "burned-in text removed"
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
CLEAN_PIXEL_CODE = ("113101", "Clean Pixel Data Option")

# One counter per action kind; no values and no tags are counted, so the report holds no PHI.
COUNT_KINDS = (
    "removed",
    "emptied",
    "dummy",
    "uid_replaced",
    "cleaned",
    "dates_shifted",
    "kept",
    "private_removed",
    "private_kept",
    "overlay_removed",
    "curve_removed",
    "unreadable_removed",
    "meta_removed",
)

# File meta elements that say how to read the file and nothing about the patient; the rest of
# group 0002 (source/sending AE titles, private information) is dropped.
_META_KEEP = frozenset(
    Tag(keyword)
    for keyword in (
        "FileMetaInformationGroupLength",
        "FileMetaInformationVersion",
        "MediaStorageSOPClassUID",
        "MediaStorageSOPInstanceUID",
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "ImplementationVersionName",
    )
)

_DUMMY_TEMPORAL = {"DA": "19000101", "TM": "000000", "DT": "19000101000000"}
_DUMMY_NUMBER = {"IS": "0", "DS": "0"}
_BINARY_NUMBER = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"})
_TEXT_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UT", "UC", "AE"})
# Fields of a code item; kept when a D-coded sequence is turned into dummies, so that coded
# structure (e.g. concept names in a Content Sequence) survives while free text does not.
_CODE_FIELDS = frozenset({
    "CodeValue", "CodingSchemeDesignator", "CodingSchemeVersion", "CodeMeaning", "LongCodeValue",
    "URNCodeValue", "ContextIdentifier", "ContextUID", "MappingResource", "ContextGroupVersion",
})
_FULL_DATES, _MODIFIED_DATES = "retain_long_full_dates", "retain_long_modified_dates"
# Z allows a dummy value (PS3.15 E.3.1): these get keyed pseudonyms, so that one patient's files
# stay linked in the de-identified set.
_PSEUDONYMISED = frozenset({"PatientName", "PatientID"})
# Keyword parts of the attributes whose values are looked for in free text under the C action.
_IDENTITY_WORDS = ("ID", "Name", "Address", "Telephone", "Number", "Institution", "Station", "Locator", "Mail")


@dataclass(frozen=True, slots=True)
class HeaderReport:
    """What the header stage did: the number of elements per action kind, and the options used."""

    counts: dict[str, int]
    options: tuple[str, ...] = ()


@lru_cache(maxsize=None)
def safe_private(path: Path = SAFE_PRIVATE_PATH) -> frozenset[tuple[int, int, str]]:
    """{(group, element low byte, creator)} of PS3.15 Table E.3.10-1 (safe private attributes)."""
    rows = tomllib.loads(path.read_text(encoding="utf-8"))["safe"]
    safe = set()
    for row in rows:
        group, element = row["tag"].strip("()").split(",")
        safe.add((int(group, 16), int(element[2:], 16), row["creator"].strip()))
    return frozenset(safe)


def _fmt(tag: int) -> str:
    tag = Tag(tag)
    return f"({tag.group:04X},{tag.element:04X})"


def _values(value: Any) -> list[Any]:
    if isinstance(value, (MultiValue, list, tuple)):
        return list(value)
    return [value]


def _read(elem: DataElement) -> None:
    """Decode the value now, so that a bad one fails here, where it can be dropped."""
    values = _values(elem.value)
    if elem.VR == "PN":
        "".join(str(v) for v in values)


def _identity_values(ds: Dataset, table: ActionTable) -> list[str]:
    """Text of the identifying attributes (names, IDs, institution, addresses), at any depth: the
    words that the C action looks for in free text. Unreadable elements are skipped here; the
    walk removes them."""
    found: list[str] = []
    for tag in list(ds.keys()):
        try:
            elem = ds[tag]
            values = _values(elem.value)
        except Exception:
            continue
        if elem.VR == "SQ":
            for item in elem.value:
                found.extend(_identity_values(item, table))
            continue
        if elem.VR not in _TEXT_VRS or elem.tag.is_private:
            continue
        rule = table.rule(int(elem.tag))
        keyword = elem.keyword or ""
        listed = rule is not None and rule.basic != "K"
        if elem.VR == "PN" or (listed and any(word in keyword for word in _IDENTITY_WORDS)):
            found.extend(str(v) for v in values if v is not None)
    return found


def _get_text(ds: Dataset, keyword: str) -> str:
    try:
        return str(ds.get(keyword, ""))
    except Exception:
        return ""


class _Cleaner:
    """One pass over one dataset; ``where`` names the element being worked on, for errors."""

    def __init__(self, policy: Policy, ds: Dataset, graphics_cleaned: frozenset[int]) -> None:
        self.key = policy.key
        self.table = load_table()
        self.options = self.table.check_options(policy.header_options)
        self.types = types_for(_get_text(ds, "SOPClassUID"))
        self.counts = dict.fromkeys(COUNT_KINDS, 0)
        self.graphics_cleaned = graphics_cleaned if "clean_graphics" in self.options else frozenset()
        self.where = "start"
        patient = "\x00".join(_get_text(ds, k) for k in ("PatientID", "IssuerOfPatientID", "PatientName"))
        self.offset = date_offset_days(self.key, patient)
        # The Basic Profile has no C action, so only an option can need the words to look for;
        # they are read before the walk removes them.
        self.tokens = identifying_tokens(_identity_values(ds, self.table)) if self.options else frozenset()

    def _drop(self, ds: Dataset, tag: BaseTag, kind: str) -> None:
        del ds[tag]
        self.counts[kind] += 1

    def dataset(self, ds: Dataset, path: tuple[str, ...], mode: str = "") -> None:
        kept_creators = self._private(ds)
        for tag in sorted(ds.keys()):
            tag = Tag(tag)
            self.where = "".join(f"{p}>" for p in path) + _fmt(tag)
            if tag.is_private:
                if tag.element >= 0x1000 or int(tag) in kept_creators:
                    self._keep_private(ds, tag, path, mode)
                continue
            self.element(ds, tag, path, mode)

    def _private(self, ds: Dataset) -> set[int]:
        """Remove the private elements that are not safe; return the creator tags still needed."""
        safe = safe_private() if "retain_safe_private" in self.options else frozenset()
        keep: set[int] = set()
        for tag in sorted(t for t in ds.keys() if Tag(t).is_private):
            tag = Tag(tag)
            creator_tag = Tag(tag.group, tag.element >> 8)
            if tag.element >= 0x1000 and creator_tag in ds:
                try:
                    creator = str(ds[creator_tag].value).strip(" \x00")
                except Exception:
                    creator = ""
                if (tag.group, tag.element & 0xFF, creator) in safe:
                    keep.update((int(tag), int(creator_tag)))
                    continue
            if not (0x0010 <= tag.element <= 0x00FF):
                self._drop(ds, tag, "private_removed")
        for tag in sorted(t for t in ds.keys() if Tag(t).is_private and 0x0010 <= Tag(t).element <= 0x00FF):
            if int(tag) not in keep:
                self._drop(ds, Tag(tag), "private_removed")
        return keep

    def _keep_private(self, ds: Dataset, tag: BaseTag, path: tuple[str, ...], mode: str) -> None:
        self.counts["private_kept"] += 1
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                self.dataset(item, (*path, _fmt(tag)), mode)

    def element(self, ds: Dataset, tag: BaseTag, path: tuple[str, ...], mode: str) -> None:
        group = tag.group
        if tag.element == 0 or group in (0x0000, 0x0002):
            # Group lengths go stale once anything changes; command and meta groups do not belong
            # in a stored data set.
            self._drop(ds, tag, "removed")
            return
        if 0x6000 <= group <= 0x601E and group % 2 == 0 and group not in self.graphics_cleaned:
            # The whole Overlay Plane module: its data and comments are X, and the rest describes
            # nothing once they are gone. Under Clean Graphics (C) the pixel stage has searched
            # the plane for text and cleared it; only such planes stay.
            self._drop(ds, tag, "overlay_removed")
            return
        if 0x5000 <= group <= 0x501E and group % 2 == 0:
            self._drop(ds, tag, "curve_removed")
            return
        try:
            elem = ds[tag]
            _read(elem)
        except Exception:
            # A value that cannot be parsed cannot be checked either.
            self._drop(ds, tag, "unreadable_removed")
            return
        rule = self.table.rule(int(tag))
        if rule is None:
            code = self._unlisted(elem, mode)
        else:
            code = resolve(rule.code(self.options), self.types, path, elem.keyword or "")
            if code in ("Z", "D") and elem.keyword in _PSEUDONYMISED:
                code = "D"
        self.apply(ds, elem, code, path, mode)

    def _unlisted(self, elem: DataElement, mode: str) -> str:
        vr = elem.VR
        if vr == "SQ":
            return "K"
        if vr == "UI":
            return "K" if "retain_uids" in self.options else "U"
        if vr in ("DA", "DT"):
            return "K" if _FULL_DATES in self.options else "C" if _MODIFIED_DATES in self.options else "Z"
        if vr == "TM":
            return "K" if self.options & {_FULL_DATES, _MODIFIED_DATES} else "Z"
        if vr == "PN":
            return "Z"
        if 0x6000 <= elem.tag.group <= 0x601E:
            # A searched overlay plane: its bitmap was cleaned, its labels are cleaned here.
            return "C" if vr in _TEXT_VRS else "K"
        if vr == "UN":
            # A public element of unknown type could hold anything, a name included.
            return "X"
        if mode and vr in _TEXT_VRS and elem.keyword not in _CODE_FIELDS:
            # Free text inside a sequence that the table replaces (D) or cleans (C).
            return mode
        return "K"

    def apply(self, ds: Dataset, elem: DataElement, code: str, path: tuple[str, ...], mode: str) -> None:
        if code == "X" or (code == "U" and elem.VR not in ("UI", "SQ")):
            self._drop(ds, elem.tag, "removed")
        elif code == "Z":
            self._empty(elem)
        elif elem.VR == "SQ":
            # K, D, U and C on a sequence: its items are cleaned by the same table. Under D (the
            # sequence is "replaced") or C, free text the table does not list is replaced or
            # cleaned too, at any depth below.
            self.counts["kept" if code == "K" else "dummy" if code == "D" else "cleaned"] += 1
            inner = code if code in ("D", "C") and mode != "D" else mode
            for item in elem.value:
                self.dataset(item, (*path, elem.keyword or _fmt(elem.tag)), inner)
        elif code == "D":
            self._dummy(elem)
        elif code == "U":
            self._uid(elem)
        elif code == "C":
            self._clean(elem)
        else:
            self.counts["kept"] += 1

    def _empty(self, elem: DataElement) -> None:
        if not elem.is_empty:
            self.counts["emptied"] += 1
        elem.value = Sequence() if elem.VR == "SQ" else elem.empty_value

    def _dummy(self, elem: DataElement) -> None:
        vr = elem.VR
        if elem.is_empty:
            return
        if vr in _DUMMY_TEMPORAL:
            new: list[Any] = [_DUMMY_TEMPORAL[vr] for _ in _values(elem.value)]
        elif vr in _DUMMY_NUMBER:
            new = [_DUMMY_NUMBER[vr] for _ in _values(elem.value)]
        elif vr in _BINARY_NUMBER:
            new = [0 for _ in _values(elem.value)]
        elif vr == "UI":
            self._uid(elem)
            return
        elif vr in _TEXT_VRS or vr == "CS":
            kind = elem.keyword or vr
            new = [pseudonym(self.key, str(v), kind, vr) if str(v).strip() else "" for v in _values(elem.value)]
        else:
            self._empty(elem)
            return
        elem.value = new[0] if len(new) == 1 else new
        self.counts["dummy"] += 1

    def _map_uid(self, value: Any) -> str:
        text = str(value).strip(" \x00")
        if not text or text in UID_dictionary:
            return text
        return uid_for(self.key, text)

    def _uid(self, elem: DataElement) -> None:
        if elem.is_empty:
            return
        old = _values(elem.value)
        new = [self._map_uid(v) for v in old]
        if new != [str(v) for v in old]:
            self.counts["uid_replaced"] += 1
        elem.value = new[0] if len(new) == 1 else new

    def _clean(self, elem: DataElement) -> None:
        """C: keep what the selected option needs, minus what identifies."""
        vr = elem.VR
        if elem.is_empty:
            return
        if vr in ("DA", "DT"):
            if _FULL_DATES in self.options:
                self.counts["kept"] += 1
                return
            shift = shift_da if vr == "DA" else shift_dt
            moved = [shift(str(v), self.offset) if _MODIFIED_DATES in self.options else None
                     for v in _values(elem.value)]
            if any(m is None for m in moved):
                self._empty(elem)
                return
            elem.value = moved[0] if len(moved) == 1 else moved
            self.counts["dates_shifted"] += 1
        elif vr == "TM":
            if self.options & {_FULL_DATES, _MODIFIED_DATES}:
                self.counts["kept"] += 1
            else:
                self._empty(elem)
        elif vr == "PN":
            self._dummy(elem)
        elif vr == "UI":
            self._uid(elem)
        elif vr in _TEXT_VRS:
            cleaned = [clean_text(str(v), self.tokens) for v in _values(elem.value)]
            elem.value = cleaned[0] if len(cleaned) == 1 else cleaned
            self.counts["cleaned"] += 1
        else:
            self.counts["kept"] += 1

    def file_meta(self, ds: Dataset) -> None:
        meta = getattr(ds, "file_meta", None)
        if meta is None:
            return
        for tag in sorted(meta.keys()):
            self.where = f"file meta {_fmt(tag)}"
            if Tag(tag) not in _META_KEEP:
                self._drop(meta, Tag(tag), "meta_removed")
        self.where = "file meta (0002,0003)"
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        elif "MediaStorageSOPInstanceUID" in meta and "retain_uids" not in self.options:
            self._uid(meta["MediaStorageSOPInstanceUID"])
        self.where = "file meta (0002,0012)"
        meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME

    def mark(self, ds: Dataset, pixels_cleaned: bool) -> None:
        """Record in the header what was done (PS3.15 E.1.1 and the CID 7050 codes)."""
        self.where = "de-identification attributes"
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = [METHOD, METHOD_PIXELS] if pixels_cleaned else METHOD
        codes = [BASIC_PROFILE_CODE] + ([CLEAN_PIXEL_CODE] if pixels_cleaned else [])
        codes += [(info.code, info.meaning) for name, info in self.table.options.items() if name in self.options]
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        ds.LongitudinalTemporalInformationModified = (
            "UNMODIFIED" if _FULL_DATES in self.options else "MODIFIED" if _MODIFIED_DATES in self.options
            else "REMOVED")
        if pixels_cleaned:
            ds.BurnedInAnnotation = "NO"

    def preamble(self, ds: Dataset) -> None:
        """Zero the 128-byte preamble: applications may put anything there (e.g. a TIFF header)."""
        self.where = "preamble"
        if getattr(ds, "preamble", None) is not None:
            ds.preamble = b"\x00" * 128


def clean_header(ds: Dataset, policy: Policy, *, pixels_cleaned: bool,
                 graphics_cleaned: frozenset[int] = frozenset()) -> HeaderReport:
    """Clean ``ds`` in place (the caller passes a copy) and report what was done.

    ``graphics_cleaned`` names the overlay groups whose planes the pixel stage searched and
    cleared of text (Clean Graphics option); every other overlay group is removed.

    Raises HeaderFailed, naming only an exception type and a tag, when the header cannot be
    cleaned with certainty; the exception is not chained so that no value leaks via a traceback.
    """
    if not isinstance(ds, Dataset):
        raise HeaderFailed("header could not be cleaned: not a DICOM data set")
    cleaner: _Cleaner | None = None
    try:
        cleaner = _Cleaner(policy, ds, graphics_cleaned)
        cleaner.dataset(ds, ())
        cleaner.file_meta(ds)
        cleaner.mark(ds, pixels_cleaned)
        cleaner.preamble(ds)
    except HeaderFailed:
        raise
    except ValueError as exc:
        if cleaner is None:
            raise HeaderFailed(f"header could not be cleaned: {exc}") from None
        raise HeaderFailed(f"header could not be cleaned: ValueError at {cleaner.where}") from None
    except Exception as exc:
        where = cleaner.where if cleaner is not None else "start"
        raise HeaderFailed(f"header could not be cleaned: {type(exc).__name__} at {where}") from None
    return HeaderReport(counts=dict(cleaner.counts), options=tuple(sorted(cleaner.options)))


def option_names() -> Mapping[str, str]:
    """{option name: CID 7050 meaning}, for the CLI's help."""
    return {name: info.meaning for name, info in load_table().options.items()}
