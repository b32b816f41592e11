"""Header stage: nothing identifying survives the Basic Profile, each option keeps exactly what
it should, replacements are keyed and consistent, bad input never crashes."""
from __future__ import annotations

import copy
import io
import re
from datetime import date

import pydicom
import pytest
from pydicom._uid_dict import UID_dictionary
from pydicom.data import get_testdata_file
from pydicom.datadict import DicomDictionary
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, UltrasoundImageStorage

from scrubber.errors import HeaderFailed
from scrubber.header import HeaderReport, clean_header, digest, pseudonym, uid_for
from scrubber.header.clean import COUNT_KINDS, IMPLEMENTATION_VERSION_NAME, safe_private
from scrubber.header.dates import shift_da, shift_dt
from scrubber.header.iod import resolve, types_for
from scrubber.header.table import load_table, parse_table
from scrubber.header.text import clean_text, identifying_tokens
from scrubber.policy import Policy

REAL_FILES = [
    "US1_UNCR.dcm",
    "OBXXXX1A.dcm",
    "color3d_jpeg_baseline.dcm",
    "examples_ybr_color.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "CT_small.dcm",
    "nested_priv_SQ.dcm",
    "badVR.dcm",
    "rtplan.dcm",
    "rtdose.dcm",
]

KEY = b"0123456789abcdef0123456789abcdef"
POLICY = Policy(key=KEY)
TABLE = load_table()
OPTIONS = tuple(TABLE.options)
_UID_RE = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")
_TEXT_VRS = {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UT"}
# Kept by every profile: they say which kind of object this is, and how to read it.
KEPT_UID_KEYWORDS = {"SOPClassUID", "ReferencedSOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID"}


def _clean(ds: Dataset, policy: Policy = POLICY, pixels_cleaned: bool = True) -> HeaderReport:
    return clean_header(ds, policy, pixels_cleaned=pixels_cleaned)


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds)
    return buf.getvalue()


def _read(name: str) -> Dataset:
    return pydicom.dcmread(get_testdata_file(name))


def _all_elements(ds: Dataset):
    """Every element of ``ds``, its file meta and all sequence items, depth first."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        yield from meta
    stack = [ds]
    while stack:
        current = stack.pop()
        for elem in current:
            yield elem
            if elem.VR == "SQ":
                stack.extend(elem.value)


def _texts(ds: Dataset) -> list[str]:
    return [str(e.value) for e in _all_elements(ds) if e.VR != "SQ"]


# ---------------------------------------------------------------------------------------------
# The action table, its options and the IOD types


def test_table_is_the_whole_of_e1_1() -> None:
    assert len(TABLE.rules) > 600
    assert TABLE.rule(0x00100010).basic == "Z"
    assert TABLE.rule(0x00100020).basic == "Z/D"
    study_uid = TABLE.rule(0x0020000D)
    assert study_uid.basic == "U" and study_uid.code({"retain_uids"}) == "K"
    acquisition_date = TABLE.rule(0x00080022)
    assert acquisition_date.code(()) == "X/Z"
    assert acquisition_date.code({"retain_long_full_dates"}) == "K"
    assert acquisition_date.code({"retain_long_modified_dates", "clean_descriptors"}) == "C"
    assert TABLE.rule(0x60023000).name == "Overlay Data"
    assert TABLE.rule(0x501E0010).name == "Curve Data"
    assert TABLE.rule(0x00091010).name == "Private Attributes"
    assert TABLE.rule(0x00280010) is None  # Rows: not in the table, kept
    # clean.py reads the identifying words for C only when an option is chosen: none is basic.
    assert all(rule.basic != "C" for rule in TABLE.rules.values())
    assert [TABLE.options[o].code for o in OPTIONS] == [
        "113111", "113110", "113109", "113112", "113108", "113106", "113107", "113105", "113104", "113103"]


@pytest.mark.parametrize(
    "text",
    [
        '[options]\n[attributes]\n"(0010,0010)" = { name = "x", basic = "Q" }\n',
        '[options]\n[attributes]\n"(0010,0010)" = { name = "x", basic = "X", retain_nothing = "K" }\n',
        '[options]\n[attributes]\n"(10,10)" = { name = "x", basic = "X" }\n',
        '[options]\n[attributes]\n"(0010,0010)" = { name = "x", basic = "X" }\n',  # no pattern rows
        '[attributes]\n"(0010,0010)" = { name = "x", basic = "X" }\n',
    ],
)
def test_bad_table_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_table(text)


def test_bad_option_selections_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        Policy(key=KEY, header_options={"retain_everything"})
    with pytest.raises(ValueError, match="exclude"):
        Policy(key=KEY, header_options={"retain_long_full_dates", "retain_long_modified_dates"})


def test_combined_codes_follow_the_iod_type() -> None:
    types = {"A": "1", "B": "2", "C": "3", "S/A": "1"}
    assert [resolve("X/Z/D", types, (), k) for k in "ABC"] == ["D", "Z", "X"]
    assert [resolve("X/Z", types, (), k) for k in "ABC"] == ["Z", "Z", "X"]
    assert [resolve("X/D", types, (), k) for k in "ABC"] == ["D", "D", "X"]
    assert [resolve("Z/D", types, (), k) for k in "ABC"] == ["D", "Z", "Z"]
    assert [resolve("X/Z/U*", types, (), k) for k in "ABC"] == ["U", "U", "X"]
    assert resolve("X/Z/D", types, (), "Missing") == "X"  # known IOD, not in it: may go
    assert resolve("X/Z/D", types, ("S",), "A") == "D"
    assert resolve("X/Z/D", types, ("S",), "Missing") == "D"  # nested, unknown: valid for any type
    assert resolve("X/Z/D", None, (), "A") == "D"
    assert resolve("K", None, (), "A") == "K"
    us = types_for(UltrasoundImageStorage)
    assert us is not None and us["ContentDate"] == "2" and us["InstitutionName"] == "3"
    assert types_for("1.2.3.4.5.6") is None


def test_dates_shift_by_whole_weeks_and_bad_ones_are_refused() -> None:
    assert shift_da("20240131", 14) == "20240117"
    assert shift_da("2024.01.31", 7) == "20240124"
    assert shift_dt("20240131235959.123+0100", 7) == "20240124235959.123+0100"
    assert shift_dt("20240131", 1) == "20240130"
    for bad in ("2024", "20241341", "yesterday", "", "2024013"):
        assert shift_da(bad, 7) is None
    assert shift_dt("2024", 7) is None


def test_clean_text_removes_identifiers_dates_and_numbers() -> None:
    tokens = identifying_tokens(["DOE^JOHN", "ST. ELSEWHERE HOSPITAL", "PID12345"])
    text = "CT head for John Doe, MRN 1234567, seen 2024-01-31 14:05 at St. Elsewhere Hospital"
    cleaned = clean_text(text, tokens)
    for leaked in ("John", "Doe", "1234567", "2024", "14:05", "Elsewhere"):
        assert leaked.lower() not in cleaned.lower(), leaked
    assert cleaned.startswith("CT head for")


# ---------------------------------------------------------------------------------------------
# Pseudonyms


def test_uid_for_is_valid_keyed_and_stable() -> None:
    uid = uid_for(KEY, "1.2.3.4")
    assert _UID_RE.match(uid) and len(uid) <= 64
    assert uid == uid_for(KEY, "1.2.3.4") == uid_for(KEY, "1.2.3.4\x00")
    assert uid != uid_for(KEY, "1.2.3.5")
    assert uid != uid_for(b"another key of 32 bytes.........", "1.2.3.4")


def test_pseudonym_and_digest_formats() -> None:
    pid = pseudonym(KEY, "12345", "PatientID", "LO")
    assert re.fullmatch(r"ANON[0-9A-F]{16}", pid)
    assert pid == pseudonym(KEY, "12345", "PatientID", "LO")
    assert pid != pseudonym(b"another key of 32 bytes.........", "12345", "PatientID", "LO")
    assert re.fullmatch(r"ANON[0-9A-F]{12}", pseudonym(KEY, "12345", "StationName", "SH"))
    name = pseudonym(KEY, "Doe^John", "PatientName", "PN")
    assert re.fullmatch(r"ANON\^[0-9A-F]{16}", name)
    assert name == pseudonym(KEY, "Doe^John^^", "PatientName", "PN")
    assert re.fullmatch(r"[0-9a-f]{16}", digest(KEY, "1.2.3"))
    assert digest(KEY, "1.2.3") == digest(KEY, "1.2.3") != digest(KEY, "1.2.4")


# ---------------------------------------------------------------------------------------------
# A data set with a distinct marker in every attribute of Table E.1-1, nested too


def _marker_value(vr: str, i: int):
    """A distinct, valid value for VR ``vr``; text markers all contain "MKR"."""
    if vr == "PN":
        return f"MKR{i:03d}^Person"
    if vr in ("LO", "SH", "CS", "AE", "LT", "ST", "UT", "UC", "UR"):
        return f"MKR{i:03d}"
    if vr == "DA":
        return f"1{i:03d}0102"
    if vr == "TM":
        return f"123456.{i:03d}"
    if vr == "DT":
        return f"1{i:03d}0102123456"
    if vr == "AS":
        return f"{i % 1000:03d}Y"
    if vr in ("DS", "IS"):
        return f"{7000 + i}"
    if vr in ("US", "UL", "SS", "SL"):
        return 7000 + i
    if vr in ("OB", "OW", "UN"):
        return f"MKR{i:03d}".encode()
    if vr == "UI":
        return f"1.2.826.0.1.3680043.99999.{i}"
    raise AssertionError(f"no marker for VR {vr}")


def _marked_item(i: int) -> Dataset:
    """An item that identifies on its own: a name, an operator, a date, a reference."""
    item = Dataset()
    item.PatientName = f"MKR{i:03d}^Nested"
    item.OperatorsName = f"MKR{i:03d}^Operator"
    item.StudyDate = "19770707"
    item.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.99999.{i}.1"
    return item


def _rows() -> list[tuple[int, str]]:
    """(tag, VR) of every concrete row of the table that can stand in a data set."""
    rows = []
    for tag in sorted(TABLE.rules):
        if Tag(tag).group in (0x0000, 0x0002):
            continue
        rows.append((tag, DicomDictionary[tag][0].split(" or ")[0]))
    return rows


def _build_marked() -> Dataset:
    ds = Dataset()
    for i, (tag, vr) in enumerate(_rows()):
        value = Sequence([_marked_item(i)]) if vr == "SQ" else _marker_value(vr, i)
        ds.add_new(tag, vr, value)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.Rows = 16  # not in the table: kept

    # Every row again, two levels down in sequences the table does not list (kept, walked).
    nested = Dataset()
    for i, (tag, vr) in enumerate(_rows()):
        nested.add_new(tag, vr, Sequence([_marked_item(i)]) if vr == "SQ" else _marker_value(vr, 1000 + i))
    outer = Dataset()
    outer.ReferencedRTPlanSequence = Sequence([nested])
    ds.ReferencedStructureSetSequence = Sequence([outer])

    # Not in the table: a person name, dates and times, a UID, a group length.
    ds.SecondaryReviewerName = "MKRunlisted^PN"
    ds.InstanceCoercionDateTime = "19770707070707"
    ds.add_new(0x00080000, "UL", 1234)

    # Private blocks: one safe element of Table E.3.10-1 beside unsafe ones, a private sequence.
    group, element, creator = sorted(safe_private())[0]
    unsafe = next(e for e in range(0x100) if (group, e, creator) not in safe_private())
    safe_block = ds.private_block(group, creator, create=True)
    safe_block.add_new(element, "DS", "42.5")
    safe_block.add_new(unsafe, "LO", "MKRunsafe")
    block = ds.private_block(0x0009, "MKRCREATOR", create=True)
    block.add_new(0x01, "LO", "MKRprivate")
    block.add_new(0x02, "SQ", Sequence([_marked_item(900)]))

    # Overlay and curve groups.
    ds.add_new(0x60000022, "LO", "MKRoverlay")
    ds.add_new(0x60003000, "OW", b"MKRoverlaydata..")
    ds.add_new(0x601E0022, "LO", "MKRoverlay2")
    ds.add_new(0x50000022, "LO", "MKRcurve")

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.SourceApplicationEntityTitle = "MKRSOURCEAE"
    ds.file_meta.ImplementationVersionName = "MKRIMPL"
    return ds


def _days(value: str) -> int:
    return date(int(value[:4]), int(value[4:6]), int(value[6:8])).toordinal()


def _same(a: Dataset, b: Dataset, tag: int) -> bool:
    if (tag in a) != (tag in b):
        return False
    return tag not in a or a[tag].value == b[tag].value


def test_no_marker_survives_the_basic_profile() -> None:
    original = _build_marked()
    ds = copy.deepcopy(original)
    report = _clean(ds)

    assert [t for t in _texts(ds) if "MKR" in t] == []
    assert b"MKR" not in _bytes(ds)
    nested = ds.ReferencedStructureSetSequence[0].ReferencedRTPlanSequence[0]
    for tag, vr in _rows():
        if tag in nested and vr != "SQ" and nested[tag].value:
            value = original.ReferencedStructureSetSequence[0].ReferencedRTPlanSequence[0][tag].value
            assert nested[tag].value != value, TABLE.rules[tag].name
    for tag, vr in _rows():
        if tag in ds and vr != "SQ" and ds[tag].value:
            assert ds[tag].value != original[tag].value, TABLE.rules[tag].name
    for elem in _all_elements(ds):
        if elem.VR == "UI" and elem.value and elem.keyword not in KEPT_UID_KEYWORDS:
            assert _UID_RE.match(str(elem.value)), elem.keyword
    skip = ("DeidentificationMethodCodeSequence", "ReferencedStructureSetSequence")
    items = [e.value[0] for e in ds if e.VR == "SQ" and len(e.value) and e.keyword not in skip]
    assert len(items) >= 5
    for item in items:
        assert item.ReferencedSOPInstanceUID.startswith("2.25.")
        assert "StudyDate" not in item or item.StudyDate == ""
    assert ds.PatientName == pseudonym(KEY, original.PatientName, "PatientName", "PN")
    assert ds.PatientID == pseudonym(KEY, original.PatientID, "PatientID", "LO")
    assert ds.Rows == 16 and ds.SOPClassUID == SecondaryCaptureImageStorage
    assert not any(Tag(t).is_private or 0x5000 <= Tag(t).group <= 0x601E for t in ds.keys())
    assert Tag(0x00080000) not in ds
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    assert ds.file_meta.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME
    assert set(report.counts) == set(COUNT_KINDS)
    assert report.counts["overlay_removed"] == 3 and report.counts["curve_removed"] == 1
    assert report.counts["private_removed"] >= 5 and report.counts["private_kept"] == 0
    assert report.counts["uid_replaced"] > 50 and report.counts["removed"] > 300


@pytest.mark.parametrize("option", OPTIONS)
def test_each_option_keeps_exactly_what_it_should(option: str) -> None:
    original = _build_marked()
    basic, chosen = copy.deepcopy(original), copy.deepcopy(original)
    _clean(basic)
    report = _clean(chosen, POLICY.replace(header_options={option}))
    assert report.options == (option,)
    touched = 0
    for tag, vr in _rows():
        rule = TABLE.rules[tag]
        code = rule.options.get(option)
        if code is None:
            # Items hold attributes of their own that the option may keep; compare presence.
            assert _same(basic, chosen, tag) if vr != "SQ" else (tag in basic) == (tag in chosen), rule.name
            continue
        touched += 1
        if code == "K" and vr != "SQ":
            assert _same(original, chosen, tag), rule.name
        elif vr in ("DA", "DT"):  # C under Modified Dates: the same date, moved back
            assert chosen[tag].value != original[tag].value and len(chosen[tag].value) >= 8, rule.name
        else:  # K on a sequence, C: retained (after cleaning)
            assert tag in chosen, rule.name
    assert touched > 0 or option == "retain_safe_private"  # private rows are a pattern, below
    codes = [i.CodeValue for i in chosen.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113101", TABLE.options[option].code]
    if option == "retain_safe_private":
        group, element, creator = sorted(safe_private())[0]
        assert chosen.private_block(group, creator)[element].value == "42.5"
        assert report.counts["private_kept"] == 2  # the element and its creator
        assert b"MKRunsafe" not in _bytes(chosen) and b"MKRCREATOR" not in _bytes(chosen)
    if option == "retain_long_modified_dates":
        assert chosen.LongitudinalTemporalInformationModified == "MODIFIED"
        moved = {_days(original[t].value) - _days(chosen[t].value) for t, vr in _rows()
                 if vr == "DA" and TABLE.rules[t].options.get(option) == "C"}
        assert len(moved) == 1 and moved.pop() % 7 == 0  # one offset per patient, whole weeks
    if option == "retain_long_full_dates":
        assert chosen.LongitudinalTemporalInformationModified == "UNMODIFIED"


def test_date_offset_is_per_patient() -> None:
    def shifted(patient_id: str) -> tuple[str, str]:
        ds = Dataset()
        ds.PatientID = patient_id
        ds.StudyDate = "20240131"
        ds.SeriesDate = "20240201"
        _clean(ds, POLICY.replace(header_options={"retain_long_modified_dates"}))
        return ds.StudyDate, ds.SeriesDate

    a1, a2, b = shifted("PAT-A"), shifted("PAT-A"), shifted("PAT-B")
    assert a1 == a2 and a1 != b
    for study, series in (a1, b):
        assert _days(series) - _days(study) == 1  # intervals survive


def test_deidentification_attributes() -> None:
    ds = _read("US1_UNCR.dcm")
    ds.BurnedInAnnotation = "YES"
    _clean(ds, pixels_cleaned=True)
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.BurnedInAnnotation == "NO"
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert "burned-in text removed" in list(ds.DeidentificationMethod)
    assert all(len(v) <= 64 for v in ds.DeidentificationMethod)
    codes = [(i.CodeValue, i.CodingSchemeDesignator) for i in ds.DeidentificationMethodCodeSequence]
    assert codes == [("113100", "DCM"), ("113101", "DCM")]

    ds = _read("US1_UNCR.dcm")
    ds.BurnedInAnnotation = "YES"
    _clean(ds, pixels_cleaned=False)
    assert ds.BurnedInAnnotation == "YES"
    assert "burned-in" not in str(ds.DeidentificationMethod)
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100"]


# ---------------------------------------------------------------------------------------------
# Real files


def _identifying_values(ds: Dataset) -> set[bytes]:
    """Original text of listed, non-kept attributes and of all names and dates (>= 5 chars).

    Numbers (DS, IS, binary) are left out: "0.000000" also occurs in kept geometry; the marker
    test covers their removal.
    """
    found: set[bytes] = set()
    for elem in _all_elements(ds):
        if Tag(elem.tag).group == 0x0002 or elem.VR not in _TEXT_VRS:
            continue
        rule = TABLE.rules.get(int(elem.tag))
        listed = rule is not None and rule.basic != "K"
        if listed or elem.VR in ("PN", "DA", "DT", "TM"):
            values = elem.value if elem.VM > 1 else [elem.value]
            for value in values:
                text = str(value).strip().strip("^").strip()
                if len(text) >= 5 and text.isprintable():
                    found.add(text.encode())
    return found


def _uids(ds: Dataset) -> dict[str, set[str]]:
    """Non-well-known UIDs by keyword, except the kept class/scheme UIDs and file meta."""
    out: dict[str, set[str]] = {}
    for elem in _all_elements(ds):
        if elem.VR != "UI" or elem.keyword in KEPT_UID_KEYWORDS or Tag(elem.tag).group == 0x0002:
            continue
        for value in elem.value if elem.VM > 1 else [elem.value]:
            if value and str(value) not in UID_dictionary:
                out.setdefault(elem.keyword, set()).add(str(value))
    return out


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_file_is_cleaned(name: str) -> None:
    original = _read(name)
    ds = copy.deepcopy(original)
    report = _clean(ds)
    data = _bytes(ds)

    for value in _identifying_values(original):
        assert value not in data, name
    before, after = _uids(original), _uids(ds)
    for uids in before.values():
        for uid in uids:
            assert uid.encode() not in data
    for uids in after.values():
        assert all(_UID_RE.match(u) for u in uids)
    # Type-3 reference sequences go (X/Z/U*), so some UID kinds may vanish; none may appear.
    assert set(after) <= set(before)
    assert {"SOPInstanceUID", "StudyInstanceUID"} & set(before) <= set(after)
    if "SOPInstanceUID" in ds:
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPInstanceUID == uid_for(KEY, original.SOPInstanceUID)
    assert ds.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert ds.file_meta.MediaStorageSOPClassUID == original.file_meta.MediaStorageSOPClassUID
    assert not any(Tag(t).is_private for t in ds.keys())

    reread = pydicom.dcmread(io.BytesIO(data))
    assert reread.PatientIdentityRemoved == "YES"
    if "PixelData" in original:
        assert reread.PixelData == original.PixelData
    assert set(report.counts) == set(COUNT_KINDS)


def test_overlays_and_private_groups_of_real_file_are_removed() -> None:
    ds = _read("MR-SIEMENS-DICOM-WithOverlays.dcm")
    report = _clean(ds)
    assert report.counts["overlay_removed"] > 0 and report.counts["private_removed"] > 0
    assert not any(0x6000 <= Tag(t).group <= 0x601E for t in ds.keys())


def test_same_key_same_bytes_other_key_other_uids() -> None:
    original = _read("CT_small.dcm")
    first, second, other = (copy.deepcopy(original) for _ in range(3))
    _clean(first)
    _clean(second)
    _clean(other, Policy(key=b"a different key, 32 bytes long!!"))
    assert _bytes(first) == _bytes(second)
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert first[keyword].value != other[keyword].value
    assert first.PatientID != other.PatientID


def test_references_between_files_map_to_the_same_uid() -> None:
    target = _read("rtplan.dcm")
    source = _read("rtdose.dcm")
    source.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID = target.SOPInstanceUID
    source.StudyInstanceUID = target.StudyInstanceUID
    source.PatientID = "another patient"
    _clean(target)
    _clean(source)
    assert source.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == target.SOPInstanceUID
    assert source.ReferencedRTPlanSequence[0].ReferencedSOPClassUID == target.SOPClassUID
    assert source.StudyInstanceUID == target.StudyInstanceUID
    assert source.PatientID != target.PatientID


def test_two_real_files_of_one_instance_agree() -> None:
    a, b = _read("color3d_jpeg_baseline.dcm"), _read("examples_ybr_color.dcm")
    assert a.SOPInstanceUID == b.SOPInstanceUID
    _clean(a)
    _clean(b)
    assert a.SOPInstanceUID == b.SOPInstanceUID and a.StudyInstanceUID == b.StudyInstanceUID
    assert a.PatientID == b.PatientID and a.PatientName == b.PatientName


# ---------------------------------------------------------------------------------------------
# Malformed input and failures


def _raw(tag: int, vr: str, value: bytes) -> RawDataElement:
    return RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)


def test_unreadable_elements_are_removed_not_fatal() -> None:
    ds = _read("CT_small.dcm")
    ds._dict[Tag(0x00280010)] = _raw(0x00280010, "US", b"\x01\x02\x03")
    item = Dataset()
    item._dict[Tag(0x00280011)] = _raw(0x00280011, "US", b"\x05")
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    ds.ReferencedRTPlanSequence = Sequence([item])  # not in Table E.1-1: kept, items cleaned
    report = _clean(ds)
    assert report.counts["unreadable_removed"] == 2
    assert "Rows" not in ds and "Columns" not in ds.ReferencedRTPlanSequence[0]
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == uid_for(KEY, "1.2.3.4")


def test_bad_vr_file_does_not_crash() -> None:
    ds = _read("badVR.dcm")
    _clean(ds)
    reread = pydicom.dcmread(io.BytesIO(_bytes(ds)))
    assert reread.PatientName.family_name == "ANON"
    assert b"Lastname" not in _bytes(ds)


def test_unexpected_error_becomes_header_failed_without_values(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(key: bytes, uid: str) -> str:
        raise ValueError(f"cannot map {uid}")

    monkeypatch.setattr("scrubber.header.clean.uid_for", boom)
    ds = _read("CT_small.dcm")
    secret = ds.SOPInstanceUID
    with pytest.raises(HeaderFailed) as caught:
        _clean(ds)
    message = str(caught.value)
    assert message.startswith("header could not be cleaned: ValueError at (")
    assert secret not in message and "CompressedSamples" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert caught.value.code == "header_failed"


def test_not_a_dataset_is_refused() -> None:
    with pytest.raises(HeaderFailed):
        clean_header("not a dataset", POLICY, pixels_cleaned=False)  # type: ignore[arg-type]


def _sr_item(text: str) -> Dataset:
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = "121071", "DCM", "Finding"
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
    item.ConceptNameCodeSequence = Sequence([concept])
    item.TextValue = text
    return item


@pytest.mark.parametrize("option", [None, "clean_structured_content"])
def test_structured_content_text_is_replaced_or_cleaned(option: str | None) -> None:
    ds = Dataset()
    ds.PatientName = "Doe^John"
    ds.PatientID = "PID-778899"
    ds.ContentSequence = Sequence([_sr_item("John Doe has a small cyst, seen 2024-01-31, ID 778899")])
    policy = POLICY.replace(header_options={option} if option else set())
    _clean(ds, policy)
    item = ds.ContentSequence[0]
    assert item.ConceptNameCodeSequence[0].CodeValue == "121071"  # coded structure survives
    assert item.ValueType == "TEXT" and item.RelationshipType == "CONTAINS"
    text = item.TextValue
    for leaked in ("John", "Doe", "2024", "778899"):
        assert leaked not in text
    if option:
        assert "small cyst" in text  # cleaned, not replaced
    else:
        assert text.startswith("ANON")


def test_malformed_values_never_crash_and_never_leak() -> None:
    ds = _read("CT_small.dcm")
    ds.StudyDate = "31/01/2024"  # not a DA: cannot be shifted, so it goes
    ds.SeriesDate = "20241341"
    ds.PatientID = "P" * 300  # far over LO's 64 characters
    ds.InstitutionName = "I" * 500
    ds.StudyDescription = "S" * 5000
    ds.ReferencedRTPlanSequence = Sequence([Dataset()])
    ds.ReferencedRTPlanSequence.is_undefined_length = True
    ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID = "1.2.3.4.5"
    # Private blocks: a duplicate creator, an empty creator, an element without a creator.
    ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")
    ds.add_new(0x00190011, "LO", "GEMS_ACQU_01")
    ds.add_new(0x00191023, "DS", "1.5")
    ds.add_new(0x00191123, "DS", "2.5")
    ds.add_new(0x00190012, "LO", "")
    ds.add_new(0x00191223, "LO", "secret in an empty block")
    ds.add_new(0x00211050, "LO", "secret without a creator")
    for options in (set(), {"retain_long_modified_dates", "retain_safe_private", "clean_descriptors"}):
        cleaned = copy.deepcopy(ds)
        _clean(cleaned, POLICY.replace(header_options=options))
        data = _bytes(cleaned)
        assert b"secret" not in data and b"PPPP" not in data and b"IIII" not in data
        assert cleaned.get("StudyDate", "") == "" and cleaned.get("SeriesDate", "") == ""
        assert cleaned.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == uid_for(KEY, "1.2.3.4.5")
        pydicom.dcmread(io.BytesIO(data))
        if "retain_safe_private" in options:
            assert cleaned[0x00191023].value == "1.5" and cleaned[0x00191123].value == "2.5"
            assert 0x00190012 not in cleaned and 0x00211050 not in cleaned
        else:
            assert not any(Tag(t).is_private for t in cleaned.keys())
