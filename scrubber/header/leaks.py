"""Independent checks of a cleaned header: which identifying input values survive, how UIDs map.

The checks read the INPUT data set to learn what must not survive and then look at the raw bytes
of the written OUTPUT, so that they do not depend on how the header stage walks a data set: a
value that survives anywhere (a nested item, a private block, the preamble, the file meta) is
found. Results name attributes only, never values, so they are safe to print and store.
"""
from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydicom._uid_dict import UID_dictionary
from pydicom.charset import convert_encodings, encode_string
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag

from scrubber.header.table import load_table

MIN_LENGTH = 4
TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
                      "UC", "UI", "UR", "UT"})
INSTANCE_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")

# Values that are never identifying by nature although they sit in identifying places (private
# blocks, removed sequences). Kept small: each entry would otherwise be reported in many files.
NOT_IDENTIFYING = frozenset({
    "ORIGINAL", "PRIMARY", "DERIVED", "SECONDARY",  # Image Type value 1 and 2 (PS3.3 C.7.6.1.1.2)
    "NONE",  # the "no value" defined term of many CS attributes (e.g. Patient Position, Filter Type)
    "ANON",  # a placeholder left by earlier de-identification, and our pseudonyms' prefix
})
# Inside an identifying sequence (a removed one, or a Content Sequence turned into dummies) these
# name no one: code strings are defined terms and DS / IS are measurements (PS3.5 6.2), and the
# fields of a code item name a term of a terminology, unless the code sequence is itself
# identifying (Institution Code Sequence, Person Identification Code Sequence).
_NOT_TEXT_VRS = frozenset({"CS", "DS", "IS"})
_CODE_FIELDS = frozenset({
    "CodeValue", "LongCodeValue", "URNCodeValue", "CodeMeaning", "CodingSchemeDesignator",
    "CodingSchemeVersion", "CodingSchemeUID", "ContextIdentifier", "ContextUID", "MappingResource",
    "MappingResourceUID", "ContextGroupVersion", "ContextGroupLocalVersion",
    "ContextGroupExtensionCreatorUID",
})
# A date or time dates the patient's visit in whatever attribute it sits, so one that the
# profile happens to keep (Instance Creation Date, when the table does not list it) never makes
# an identifying date look allowed.
_TEMPORAL_VRS = frozenset({"DA", "DT", "TM"})
# Dummy dates, times and IDs are all zeros ("00000000", "000000.00"): they name nobody.
_ZEROS = re.compile(r"^[0.:\- ]+$")
# A value made of digits and dots can occur inside a longer number by chance (a "2.25." UID of
# the output is 39 random digits), so it counts only where no digit or dot precedes it, or the
# one that does is its length byte (Big Endian lengths 48 to 57 read as "0" to "9").
_NUMERIC = re.compile(r"^[0-9.]+$")
_NUMERIC_BYTES = frozenset(b"0123456789.")
_DEFLATED = b"1.2.840.10008.1.2.1.99"
_PRINTABLE = re.compile(rb"[\x20-\x7e]{%d,}" % MIN_LENGTH)


def identifying_tags() -> frozenset[int]:
    """Tags whose Annex E basic action is not K, i.e. whose value must not survive as it is."""
    return frozenset(tag for tag, rule in load_table().rules.items() if rule.basic != "K")


def _repeating_identifying(tag: BaseTag) -> bool:
    """Table E.1-1 rows for repeating groups: curve data (50xx,xxxx) and overlay comments
    (60xx,4000) are X; only their text matters here."""
    group = tag.group
    if group % 2:
        return False
    return 0x5000 <= group <= 0x501E or (0x6000 <= group <= 0x601E and tag.element == 0x4000)


def _name(tag: BaseTag, elem: DataElement | None) -> str:
    keyword = elem.keyword if elem is not None and elem.keyword else ""
    text = f"({tag.group:04X},{tag.element:04X})"
    return f"{keyword} {text}" if keyword else text


def _raw_text(value: Any) -> list[str]:
    """Values of an element as text; of bytes (UN, a value pydicom could not convert), the runs of
    printable ASCII, which is where text hides in a private block of unknown layout."""
    if value is None:
        return []
    if isinstance(value, (bytes, bytearray)):
        runs = _PRINTABLE.findall(bytes(value))
        return [part for run in runs for part in run.decode("ascii").split("\\")]
    if isinstance(value, (MultiValue, list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _pieces(text: str, person_name: bool) -> list[str]:
    """A value and, for person names, its groups (=) and components (^), each normalised."""
    whole = text.strip(" \x00")
    out = [whole]
    if person_name or "^" in whole:
        out.append(whole.rstrip("^= "))
        for group in whole.split("="):
            out.append(group.strip(" ^"))
            out.extend(part.strip(" \x00") for part in group.split("^"))
    return out


def _keep(value: str) -> bool:
    return (len(value) >= MIN_LENGTH and not _ZEROS.match(value) and value not in UID_dictionary
            and value.upper() not in NOT_IDENTIFYING)


def _element(ds: Dataset, tag: BaseTag) -> tuple[DataElement | None, Any, str]:
    """The element, its value and VR; a value that pydicom cannot convert is taken raw."""
    try:
        elem = ds[tag]
        return elem, elem.value, elem.VR
    except Exception:
        raw = ds.get_item(tag)
        return None, getattr(raw, "value", None), getattr(raw, "VR", None) or "UN"


def _walk(ds: Dataset, path: str, inside: bool, direct: bool, tags: frozenset[int],
          out: dict[str, set[str]], public: set[str]) -> None:
    """Add identifying values to ``out`` and the values the profile keeps to ``public``.

    ``inside``: some enclosing sequence is identifying; ``direct``: the one holding this item is.
    """
    for tag in sorted(ds.keys()):
        tag = Tag(tag)
        elem, value, vr = _element(ds, tag)
        name = path + _name(tag, elem)
        creator = tag.is_private and 0x0010 <= tag.element <= 0x00FF
        listed = int(tag) in tags or (tag.is_private and not creator) or _repeating_identifying(tag)
        if vr == "SQ" and value is not None:
            for item in value:
                _walk(item, name + ">", inside or listed, listed, tags, out, public)
            continue
        if vr not in TEXT_VRS and not (tag.is_private and vr == "UN"):
            continue
        keyword = elem.keyword if elem is not None else ""
        by_nature = vr in _NOT_TEXT_VRS or (keyword in _CODE_FIELDS and not direct)
        identifying = listed or vr == "PN" or (inside and not by_nature)
        for text in _raw_text(value):
            for piece in _pieces(text, vr == "PN"):
                if not identifying:
                    if vr not in _TEMPORAL_VRS:
                        public.add(piece)
                elif _keep(piece):
                    out.setdefault(piece, set()).add(name)


def phi_values(ds: Dataset) -> dict[str, set[str]]:
    """Identifying values of an input data set (file meta included), each with its sources.

    A source is the attribute path that held the value ("Keyword (gggg,eeee)", items joined by
    ">"): identifying attributes of the action table, every person name, every private text value
    (private creators excepted: they name a vendor), and the text inside an identifying sequence
    (defined terms, numbers and terminology codes excepted). A value that also occurs, whole or
    as part, in a non-temporal attribute the profile keeps (a private copy of Body Part Examined,
    a description equal to a kept Code Meaning) is left out: it may be in the output, so its
    presence there would prove nothing.
    """
    tags = identifying_tags()
    out: dict[str, set[str]] = {}
    public: set[str] = set()
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        _walk(meta, "", False, False, tags, out, public)
    _walk(ds, "", False, False, tags, out, public)
    kept = "\x00".join(public)
    return {value: where for value, where in out.items() if value not in kept}


def _occurs(needle: bytes, haystack: bytes, numeric: bool) -> bool:
    start = haystack.find(needle)
    while start != -1:
        before = haystack[start - 1] if start else None
        if not numeric or before not in _NUMERIC_BYTES or before in (len(needle), len(needle) + 1):
            return True
        start = haystack.find(needle, start + 1)
    return False


def _encoded(value: str, encodings: list[str]) -> Iterator[bytes]:
    for codec in ("latin-1", "utf-8"):
        try:
            yield value.encode(codec)
        except UnicodeEncodeError:
            pass
    if encodings:
        try:
            yield encode_string(value, encodings)
        except Exception:
            pass


def searchable(data: bytes) -> bytes:
    """The bytes to search in a Part 10 file: as written, plus the inflated data set when the
    transfer syntax is Deflated Explicit VR Little Endian (its values are not visible as written)."""
    if data[128:132] != b"DICM" or data[132:140] != b"\x02\x00\x00\x00UL\x04\x00":
        return data
    start = 144 + int.from_bytes(data[140:144], "little")
    if _DEFLATED not in data[132:start]:
        return data
    try:
        return data + zlib.decompress(data[start:], -zlib.MAX_WBITS)
    except zlib.error:
        return data


def encodings_of(ds: Dataset) -> list[str]:
    """The Python codecs of ``ds``'s Specific Character Set, for ``find_leaks`` (none if unreadable)."""
    try:
        return convert_encodings(ds.get("SpecificCharacterSet") or "")
    except Exception:
        return []


def find_leaks(values: Mapping[str, Iterable[str]], output_bytes: bytes, *,
               encodings: Iterable[str] = ()) -> list[str]:
    """Sources (never values) of the values that occur in ``output_bytes``, sorted, unique.

    Each value is looked for as latin-1 and UTF-8 and, when given, in the input's character sets
    (Python codec names, e.g. from pydicom.charset.convert_encodings), which ISO 2022 names need.
    """
    codecs = list(encodings)
    sources: set[str] = set()
    for value, where in values.items():
        numeric = bool(_NUMERIC.match(value))
        if any(_occurs(b, output_bytes, numeric) for b in set(_encoded(value, codecs))):
            sources.update(where)
    return sorted(sources)


def _uid_values(elem: DataElement | None) -> list[str]:
    if elem is None or elem.VR != "UI" or elem.is_empty:
        return []
    return [str(v).strip(" \x00") for v in _raw_text(elem.value)]


def _get(ds: Dataset, keyword_or_tag: Any) -> DataElement | None:
    try:
        return ds[keyword_or_tag] if keyword_or_tag in ds else None
    except Exception:
        return None


def _zip_uids(a: DataElement | None, b: DataElement | None) -> list[tuple[str, str]]:
    old, new = _uid_values(a), _uid_values(b)
    return list(zip(old, new)) if len(old) == len(new) else []


def _walk_refs(a: Dataset, b: Dataset, inside: bool, out: list[tuple[str, str]]) -> None:
    """Pair UIDs of referencing items, item by item, where both sides kept the sequence."""
    for tag in sorted(a.keys()):
        elem_a, elem_b = _get(a, tag), _get(b, tag)
        if elem_a is None or elem_b is None:
            continue
        keyword = elem_a.keyword or ""
        if elem_a.VR == "SQ" and elem_b.VR == "SQ":
            for item_a, item_b in zip(elem_a.value, elem_b.value):
                _walk_refs(item_a, item_b, inside or "Referenced" in keyword, out)
        elif elem_a.VR == "UI" and (inside or keyword.startswith("Referenced")):
            out.extend(_zip_uids(elem_a, elem_b))


def uid_pairs(input_ds: Dataset, output_ds: Dataset) -> list[tuple[str, str]]:
    """(input UID, output UID) for the instance UIDs, the file meta's, and referenced UIDs.

    Study, series, SOP instance and frame of reference UIDs at the top level, then the file
    meta's Media Storage SOP Instance UID, then every UID inside the items of a sequence whose
    keyword contains "Referenced" (at any depth, e.g. RT Referenced Study / Series items) and
    every Referenced* UID in any item (e.g. Contour Image items), in the order they appear.
    Items are paired by position; a sequence or element the output dropped gives no pair, so the
    caller checks consistency, not completeness.
    """
    pairs: list[tuple[str, str]] = []
    for keyword in INSTANCE_UIDS:
        pairs.extend(_zip_uids(_get(input_ds, keyword), _get(output_ds, keyword)))
    meta_a = getattr(input_ds, "file_meta", None)
    meta_b = getattr(output_ds, "file_meta", None)
    if meta_a is not None and meta_b is not None:
        keyword = "MediaStorageSOPInstanceUID"
        pairs.extend(_zip_uids(_get(meta_a, keyword), _get(meta_b, keyword)))
    _walk_refs(input_ds, output_ds, False, pairs)
    return pairs


_KEEP_BRACKET = re.compile(r"(Element=|Module=|Macro=|attribute )$")
_BRACKET = re.compile(r"<[^<>]*>")
_QUOTED = re.compile(r"(?<=[=-] )(?:\"[^\"]*\"|'[^']*')")
_DOTTED = re.compile(r"\b\d+(?:\.\d+){2,}\b")


def _bracket(match: re.Match[str]) -> str:
    before = match.string[: match.start()]
    return match.group(0) if _KEEP_BRACKET.search(before) else "<…>"


def validator_errors(text: str) -> list[str]:
    """The "Error" lines of dciodvfy's output, with every value cut out.

    dciodvfy quotes values as <...>, "..." or '...', and some messages end in a bare UID or a
    list of numbers; only attribute and module names in <...> are kept, so that the lines can
    be printed, stored and grouped across files.
    """
    out = []
    for line in text.splitlines():
        if not line.startswith("Error"):
            continue
        line = _BRACKET.sub(_bracket, line.rstrip())
        line = _QUOTED.sub("…", line)
        line = _DOTTED.sub("…", line)
        line = re.sub(r"(values are |ReferencedSOPInstanceUID )[^<\s].*", r"\1…", line)
        line = re.sub(r"… \(0x[0-9A-Fa-f]+\)", "…", line)
        line = re.sub(r"<(?![=…])[^>]*$", "<…", line)
        out.append(line)
    return out
