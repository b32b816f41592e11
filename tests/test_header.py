"""Header stage: nothing identifying survives, replacements are keyed and consistent, bad input
never crashes."""
from __future__ import annotations

import copy
import io
import re

import pydicom
import pytest
from pydicom._uid_dict import UID_dictionary
from pydicom.data import get_testdata_file
from pydicom.datadict import DicomDictionary, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from scrubber.errors import HeaderFailed
from scrubber.header import HeaderReport, clean_header, digest, pseudonym, uid_for
from scrubber.header.clean import COUNT_KINDS, IMPLEMENTATION_VERSION_NAME
from scrubber.header.table import Action, load_table, parse_table
from scrubber.policy import Policy

KEY = b"0123456789abcdef0123456789abcdef"
POLICY = Policy(key=KEY)
TABLE = load_table()
KEPT_UID_KEYWORDS = {keyword_for_tag(t) for t, a in TABLE.items() if a is Action.KEEP}

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

# The attributes the brief names; each must have an entry in the table.
REQUIRED = """PatientName PatientID PatientBirthDate PatientBirthTime PatientSex PatientAge
PatientSize PatientWeight PatientAddress PatientTelephoneNumbers OtherPatientIDs OtherPatientNames
OtherPatientIDsSequence PatientMotherBirthName MilitaryRank EthnicGroup Occupation
AdditionalPatientHistory PatientComments MedicalRecordLocator AccessionNumber StudyID StudyDate
StudyTime SeriesDate SeriesTime AcquisitionDate AcquisitionTime ContentDate ContentTime
AcquisitionDateTime InstitutionName InstitutionAddress InstitutionalDepartmentName StationName
ReferringPhysicianName ReferringPhysicianAddress ReferringPhysicianTelephoneNumbers
PerformingPhysicianName NameOfPhysiciansReadingStudy PhysiciansOfRecord OperatorsName
RequestingPhysician DeviceSerialNumber StudyDescription SeriesDescription ImageComments
RequestAttributesSequence ReferencedPatientSequence ReferencedStudySequence ProtocolName
PerformedProcedureStepDescription PerformedProcedureStepID PerformedProcedureStepStartDate
PerformedProcedureStepStartTime ScheduledProcedureStepDescription RequestedProcedureDescription
RequestedProcedureID AdmittingDiagnosesDescription FrameComments DerivationDescription
IssuerOfPatientID""".split()
KEEP_PRESENT = """PatientBirthDate PatientSex StudyDate StudyTime ReferringPhysicianName StudyID
AccessionNumber""".split()

_TEXT_VRS = {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UT"}
_UID_RE = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")


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
# The action table


def test_table_lists_required_attributes_with_safe_actions() -> None:
    for keyword in REQUIRED:
        assert tag_for_keyword(keyword) in TABLE, keyword
    assert TABLE[tag_for_keyword("PatientName")] is Action.DUMMY
    assert TABLE[tag_for_keyword("PatientID")] is Action.DUMMY
    for keyword in KEEP_PRESENT:
        assert TABLE[tag_for_keyword(keyword)] is Action.EMPTY, keyword


@pytest.mark.parametrize(
    "text",
    [
        '[a]\nNoSuchKeyword = "X"\n',
        '[a]\nPatientName = "Q"\n',
        '[a]\nPatientName = "X"\n[b]\nPatientName = "Z"\n',
        '[a]\nPatientName = "U"\n',
        'PatientName = "X"\n',
    ],
)
def test_bad_table_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_table(text)


# ---------------------------------------------------------------------------------------------
# Pseudonyms


def test_uid_for_is_valid_keyed_and_stable() -> None:
    uid = uid_for(KEY, "1.2.3.4")
    assert _UID_RE.match(uid) and len(uid) <= 64
    assert uid == uid_for(KEY, "1.2.3.4") == uid_for(KEY, "1.2.3.4\x00")
    assert uid != uid_for(KEY, "1.2.3.5")
    assert uid != uid_for(b"another key of 32 bytes.........", "1.2.3.4")


def test_pseudonym_and_digest_formats() -> None:
    pid = pseudonym(KEY, "12345", "PatientID")
    assert re.fullmatch(r"ANON[0-9A-F]{10}", pid)
    assert pid == pseudonym(KEY, "12345", "PatientID")
    assert pid != pseudonym(b"another key of 32 bytes.........", "12345", "PatientID")
    name = pseudonym(KEY, "Doe^John", "PatientName")
    assert re.fullmatch(r"ANON\^[0-9A-F]{10}", name)
    assert name == pseudonym(KEY, "Doe^John^^", "PatientName")
    assert re.fullmatch(r"[0-9a-f]{16}", digest(KEY, "1.2.3"))
    assert digest(KEY, "1.2.3") == digest(KEY, "1.2.3") != digest(KEY, "1.2.4")


# ---------------------------------------------------------------------------------------------
# A data set with a marker in every listed attribute and in the places the rules cover


def _marker_value(vr: str, i: int):
    """A distinct, valid value for VR ``vr``; text markers all contain "MKR"."""
    if vr == "PN":
        return f"MKR{i:03d}^Person"
    if vr in ("LO", "SH", "CS", "AE", "LT", "ST", "UT", "UC"):
        return f"MKR{i:03d}"
    if vr == "DA":
        return f"1{i:03d}0102"
    if vr == "TM":
        return f"123456.{i:03d}"
    if vr == "DT":
        return f"1{i:03d}0102123456"
    if vr == "AS":
        return f"{i % 1000:03d}Y"
    if vr == "DS":
        return f"{i}.125"
    if vr in ("US", "UL"):
        return 4
    if vr in ("OB", "OW", "UN"):
        return f"MKR{i:03d}".encode()
    if vr == "UI":
        return f"1.2.826.0.1.3680043.99999.{i}"
    raise AssertionError(f"no marker for VR {vr}")


def _marked_item(i: int) -> Dataset:
    item = Dataset()
    item.CodeMeaning = f"MKR{i:03d}item"
    item.PatientName = f"MKR{i:03d}^Nested"
    return item


def _build_marked() -> tuple[Dataset, dict[str, object]]:
    """Return a data set with markers, and {keyword: marker} for the listed attributes."""
    ds = Dataset()
    markers: dict[str, object] = {}
    for i, tag in enumerate(sorted(TABLE)):
        keyword = keyword_for_tag(tag)
        vr = DicomDictionary[tag][0]
        if Tag(tag).group == 0x0002 or TABLE[tag] is Action.KEEP:
            continue
        if vr == "SQ":
            ds.add_new(tag, vr, Sequence([_marked_item(i)]))
        else:
            value = _marker_value(vr, i)
            ds.add_new(tag, vr, value)
            markers[keyword] = value
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SpecificCharacterSet = "ISO_IR 100"

    # Unlisted PN, dates and times, a non-well-known UID and a group length, at the top level.
    ds.SecondaryReviewerName = "MKRunlisted^PN"
    ds.InstanceCreationDate = "19770707"
    ds.InstanceCreationTime = "070707"
    ds.InstanceCoercionDateTime = "19770707070707"
    ds.InstanceCreatorUID = "1.2.826.0.1.3680043.99999.7777"
    ds.add_new(0x00080000, "UL", 1234)

    # A private block with text and a private sequence that nests identifying data.
    block = ds.private_block(0x0009, "MKRCREATOR", create=True)
    block.add_new(0x01, "LO", "MKRprivate")
    block.add_new(0x02, "SQ", Sequence([_marked_item(900)]))

    # Overlay and curve groups.
    ds.add_new(0x60000022, "LO", "MKRoverlay")
    ds.add_new(0x60003000, "OW", b"MKRoverlaydata..")
    ds.add_new(0x601E0022, "LO", "MKRoverlay2")
    ds.add_new(0x50000022, "LO", "MKRcurve")

    # A kept reference sequence whose item carries everything again, two levels deep.
    inner = Dataset()
    inner.OperatorsName = "MKRinner^Operator"
    inner.InstitutionName = "MKRinnerInstitution"
    inner.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99999.8888"
    ref = Dataset()
    ref.ReferencedSOPClassUID = SecondaryCaptureImageStorage
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99999.9999"
    ref.PatientName = "MKRref^Patient"
    ref.PatientID = "MKRrefID"
    ref.EvaluatorName = "MKRref^Evaluator"
    ref.AcquisitionDate = "19880808"
    ref.add_new(0x60000022, "LO", "MKRrefoverlay")
    ref_block = ref.private_block(0x0011, "MKRCREATOR2", create=True)
    ref_block.add_new(0x01, "LO", "MKRrefprivate")
    ref.SourceImageSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([ref])

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = markers["SOPInstanceUID"]
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.SourceApplicationEntityTitle = "MKRSOURCEAE"
    ds.file_meta.ImplementationVersionName = "MKRIMPL"
    return ds, markers


def test_no_marker_survives_anywhere() -> None:
    ds, markers = _build_marked()
    report = _clean(ds)

    texts = _texts(ds)
    leaked = [t for t in texts if "MKR" in t]
    assert leaked == []
    data = _bytes(ds)
    assert b"MKR" not in data
    for keyword, marker in markers.items():
        if isinstance(marker, bytes):
            assert marker not in data, keyword
        else:
            assert str(marker) not in texts, keyword

    action_of = {keyword_for_tag(t): a for t, a in TABLE.items()}
    for keyword in markers:
        action = action_of[keyword]
        if keyword == "MediaStorageSOPInstanceUID":
            continue
        if action in (Action.REMOVE, Action.CLEAN):
            assert keyword not in ds, keyword
        elif action is Action.EMPTY:
            assert keyword in ds and ds[keyword].is_empty, keyword
        elif action is Action.DUMMY:
            assert str(ds[keyword].value).startswith("ANON"), keyword
        elif action is Action.UID:
            assert _UID_RE.match(str(ds[keyword].value)), keyword

    ref = ds.ReferencedImageSequence[0]
    assert ref.PatientName == pseudonym(KEY, "MKRref^Patient", "PatientName")
    assert ref.PatientID == pseudonym(KEY, "MKRrefID", "PatientID")
    assert ref.EvaluatorName == "" and "AcquisitionDate" not in ref
    assert ref.ReferencedSOPInstanceUID == uid_for(KEY, "1.2.826.0.1.3680043.99999.9999")
    assert ref.ReferencedSOPClassUID == SecondaryCaptureImageStorage
    assert ref.SourceImageSequence[0].ReferencedSOPInstanceUID == uid_for(KEY, "1.2.826.0.1.3680043.99999.8888")
    assert ds.SecondaryReviewerName == "" and ds.InstanceCreationDate == ""
    assert ds.InstanceCreationTime == "" and ds.InstanceCoercionDateTime == ""
    assert ds.InstanceCreatorUID == uid_for(KEY, "1.2.826.0.1.3680043.99999.7777")
    assert all(not Tag(t).is_private and Tag(t).group not in (0x5000, 0x6000, 0x601E) for t in ds.keys())
    assert Tag(0x00080000) not in ds
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    assert ds.file_meta.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME

    assert set(report.counts) == set(COUNT_KINDS)
    assert report.counts["private_removed"] >= 3
    assert report.counts["overlay_removed"] == 4
    assert report.counts["curve_removed"] == 1
    assert report.counts["uid_replaced"] > 20
    with pytest.raises(AttributeError):
        report.counts = {}  # type: ignore[misc]


def test_retain_private_keeps_private_elements_but_cleans_inside_them() -> None:
    ds, _ = _build_marked()
    report = _clean(ds, POLICY.replace(retain_private=True))
    assert report.counts["private_removed"] == 0
    block = ds.private_block(0x0009, "MKRCREATOR")
    assert block[0x01].value == "MKRprivate"
    nested = block[0x02].value[0]
    assert nested.PatientName == pseudonym(KEY, "MKR900^Nested", "PatientName")


def test_deidentification_attributes() -> None:
    ds = _read("US1_UNCR.dcm")
    ds.BurnedInAnnotation = "YES"
    _clean(ds, pixels_cleaned=True)
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.BurnedInAnnotation == "NO"
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
        listed = TABLE.get(int(elem.tag)) in (Action.REMOVE, Action.EMPTY, Action.DUMMY)
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
    assert set(after) == set(before)
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
    target = _read("CT_small.dcm")
    source = _read("US1_UNCR.dcm")
    ref = Dataset()
    ref.ReferencedSOPClassUID = target.SOPClassUID
    ref.ReferencedSOPInstanceUID = target.SOPInstanceUID
    source.ReferencedImageSequence = Sequence([ref])
    source.FrameOfReferenceUID = target.FrameOfReferenceUID
    source.StudyInstanceUID = target.StudyInstanceUID
    _clean(target)
    _clean(source)
    assert source.ReferencedImageSequence[0].ReferencedSOPInstanceUID == target.SOPInstanceUID
    assert source.ReferencedImageSequence[0].ReferencedSOPClassUID == target.SOPClassUID
    assert source.FrameOfReferenceUID == target.FrameOfReferenceUID
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
    ds.ReferencedImageSequence = Sequence([item])
    report = _clean(ds)
    assert report.counts["unreadable_removed"] == 2
    assert "Rows" not in ds and "Columns" not in ds.ReferencedImageSequence[0]
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == uid_for(KEY, "1.2.3.4")


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
