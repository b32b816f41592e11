"""Fail-safe header cleaning after PS3.15 Annex E (Basic Profile, partial table).

The action table (actions.toml) says what to do with the attributes it lists. Everything it does
not list falls to rules that err on the side of removal until the full Table E.1-1 lands: UIDs are
replaced with keyed UIDs, person names, dates and times are emptied, private, overlay and curve
groups are removed, and any element that cannot be read is dropped. The rules apply inside every
sequence item, so nothing nested escapes.

Errors never carry attribute values, only tags: a message may end up in logs and reports.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydicom._uid_dict import UID_dictionary
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

from scrubber.errors import HeaderFailed
from scrubber.header.pseudonym import pseudonym, uid_for
from scrubber.header.table import Action, load_table
from scrubber.policy import Policy

IMPLEMENTATION_CLASS_UID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'urn:scrubber:implementation:0.1').int}"
IMPLEMENTATION_VERSION_NAME = "SCRUBBER_0_1"

# DeidentificationMethod is LO (at most 64 characters per value), hence one value per statement.
METHOD = "scrubber 0.1: PS3.15 Annex E Basic Profile (partial table)"
METHOD_PIXELS = "burned-in text removed"
BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
CLEAN_PIXEL_CODE = ("113101", "DCM", "Clean Pixel Data Option")

COUNT_KINDS = (
    "removed",
    "emptied",
    "replaced",
    "uid_replaced",
    "private_removed",
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
_PSEUDONYM_VRS = frozenset({"PN", "LO", "SH", "CS", "AE", "LT", "ST", "UT", "UC"})
_EMPTIED_VRS = frozenset({"PN", "DA", "DT", "TM"})


@dataclass(frozen=True, slots=True)
class HeaderReport:
    """What the header stage did: the number of elements per action kind (no values, no tags)."""

    counts: dict[str, int]


def _fmt(tag: int) -> str:
    tag = Tag(tag)
    return f"({tag.group:04X},{tag.element:04X})"


def _values(value: Any) -> list[Any]:
    if isinstance(value, (MultiValue, list, tuple)):
        return list(value)
    return [value]


def _is_overlay_group(group: int) -> bool:
    return 0x6000 <= group <= 0x601E and group % 2 == 0


def _is_curve_group(group: int) -> bool:
    return 0x5000 <= group <= 0x501E and group % 2 == 0


def _read(elem: DataElement) -> None:
    """Decode the value now, so that a bad one fails here, where it can be dropped."""
    values = _values(elem.value)
    if elem.VR == "PN":
        "".join(str(v) for v in values)


class _Cleaner:
    """One pass over one dataset; ``where`` names the element being worked on, for errors."""

    def __init__(self, policy: Policy) -> None:
        self.key = policy.key
        self.retain_private = policy.retain_private
        self.table = load_table()
        self.counts = dict.fromkeys(COUNT_KINDS, 0)
        self.where = "start"

    def _drop(self, ds: Dataset, tag: BaseTag, kind: str) -> None:
        del ds[tag]
        self.counts[kind] += 1

    def dataset(self, ds: Dataset, path: str) -> None:
        for tag in sorted(ds.keys()):
            tag = Tag(tag)
            self.where = f"{path}{_fmt(tag)}"
            self.element(ds, tag, self.where)

    def element(self, ds: Dataset, tag: BaseTag, where: str) -> None:
        group = tag.group
        if tag.element == 0 or group in (0x0000, 0x0002):
            # Group lengths go stale once anything changes; command and meta groups do not belong
            # in a stored data set.
            self._drop(ds, tag, "removed")
            return
        if tag.is_private:
            if not self.retain_private:
                self._drop(ds, tag, "private_removed")
                return
        elif _is_overlay_group(group):
            self._drop(ds, tag, "overlay_removed")
            return
        elif _is_curve_group(group):
            self._drop(ds, tag, "curve_removed")
            return

        action = self.table.get(int(tag))
        if action in (Action.REMOVE, Action.CLEAN):
            self._drop(ds, tag, "removed")
            return
        try:
            elem = ds[tag]
            _read(elem)
        except Exception:
            # A value that cannot be parsed cannot be checked either.
            self._drop(ds, tag, "unreadable_removed")
            return
        if action is None:
            action = self._default(elem, tag)
        self.apply(ds, elem, action, where)

    def _default(self, elem: DataElement, tag: BaseTag) -> Action:
        vr = elem.VR
        if vr == "SQ":
            return Action.KEEP
        if vr == "UI":
            return Action.UID
        if vr in _EMPTIED_VRS:
            return Action.EMPTY
        if vr == "UN" and not tag.is_private:
            # A public element of unknown type could hold anything, a name included.
            return Action.REMOVE
        return Action.KEEP

    def apply(self, ds: Dataset, elem: DataElement, action: Action, where: str) -> None:
        if action is Action.REMOVE:
            self._drop(ds, elem.tag, "removed")
        elif action is Action.EMPTY:
            self._empty(elem)
        elif action is Action.DUMMY:
            self._dummy(elem)
        elif action is Action.UID:
            if elem.VR != "UI":
                self._drop(ds, elem.tag, "removed")
            else:
                self._uid(elem)
        elif elem.VR == "SQ":
            for index, item in enumerate(elem.value):
                self.dataset(item, f"{where}[{index}]>")

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
        elif vr in _PSEUDONYM_VRS:
            kind = elem.keyword or vr
            new = [pseudonym(self.key, str(v), kind) if str(v).strip() else "" for v in _values(elem.value)]
        else:
            self._empty(elem)
            return
        elem.value = new[0] if len(new) == 1 else new
        self.counts["replaced"] += 1

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
        elif "MediaStorageSOPInstanceUID" in meta:
            self._uid(meta["MediaStorageSOPInstanceUID"])
        self.where = "file meta (0002,0012)"
        meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME

    def mark(self, ds: Dataset, pixels_cleaned: bool) -> None:
        """Record in the header what was done (PS3.15 E.1.1 and the CID 7050 codes)."""
        self.where = "de-identification attributes"
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = [METHOD, METHOD_PIXELS] if pixels_cleaned else METHOD
        codes = [BASIC_PROFILE_CODE, CLEAN_PIXEL_CODE] if pixels_cleaned else [BASIC_PROFILE_CODE]
        items = []
        for value, scheme, meaning in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = scheme
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        # Every date and time is emptied or removed, none is shifted.
        ds.LongitudinalTemporalInformationModified = "REMOVED"
        if pixels_cleaned:
            ds.BurnedInAnnotation = "NO"

    def preamble(self, ds: Dataset) -> None:
        """Zero the 128-byte preamble: applications may put anything there (e.g. a TIFF header)."""
        self.where = "preamble"
        if getattr(ds, "preamble", None) is not None:
            ds.preamble = b"\x00" * 128


def clean_header(ds: Dataset, policy: Policy, *, pixels_cleaned: bool) -> HeaderReport:
    """Clean ``ds`` in place (the caller passes a copy) and report what was done.

    Raises HeaderFailed, naming only an exception type and a tag, when the header cannot be
    cleaned with certainty; the exception is not chained so that no value leaks via a traceback.
    """
    if not isinstance(ds, Dataset):
        raise HeaderFailed("header could not be cleaned: not a DICOM data set")
    cleaner = _Cleaner(policy)
    try:
        cleaner.dataset(ds, "")
        cleaner.file_meta(ds)
        cleaner.mark(ds, pixels_cleaned)
        cleaner.preamble(ds)
    except HeaderFailed:
        raise
    except Exception as exc:
        raise HeaderFailed(
            f"header could not be cleaned: {type(exc).__name__} at {cleaner.where or 'top level'}"
        ) from None
    return HeaderReport(counts=dict(cleaner.counts))
