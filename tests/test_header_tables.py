"""The generated PS3.15 Annex E data files: in step with their vendored sources, and holding facts
of the standard checked by hand here, so that neither a broken generator nor a hand edit passes.
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from scrubber.header import build_tables as bt

US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"


def annex_e() -> dict:
    return tomllib.loads(bt.ANNEX_E.read_text(encoding="utf-8"))


def iod_types() -> dict:
    return json.loads(bt.IOD_TYPES.read_text(encoding="utf-8"))


def top_level_types(data: dict, sop_class_uid: str, keyword: str) -> set[str]:
    """The types a top-level attribute has in the modules of one SOP class's IOD."""
    return {data["modules"][m][keyword] for m in data["iods"][sop_class_uid] if keyword in data["modules"][m]}


def test_annex_e_and_safe_private_are_up_to_date():
    outputs = bt.generate(with_iod_types=False)
    assert set(outputs) == {bt.ANNEX_E, bt.SAFE_PRIVATE}
    assert bt.stale(outputs) == []


def test_iod_types_up_to_date_or_well_formed():
    found = bt.highdicom_standard()
    if found is not None:
        text = bt.render_iod_types(bt.load_attributes(), *found)
        assert bt.stale({bt.IOD_TYPES: text}) == []
    data = iod_types()
    assert set(data) == {"source", "modules", "iods"} and "highdicom" in data["source"]
    assert len(data["iods"]) > 100 and len(data["modules"]) > 50
    for types in data["modules"].values():
        assert types and all(t in {"1", "1C", "2", "2C", "3"} for t in types.values())
    for modules in data["iods"].values():
        assert all(m in data["modules"] for m in modules)


def test_options_are_cid_7050():
    assert annex_e()["options"] == {
        "retain_safe_private": ["rtnSafePrivOpt", "113111", "Retain Safe Private Option"],
        "retain_uids": ["rtnUIDsOpt", "113110", "Retain UIDs Option"],
        "retain_device_identity": ["rtnDevIdOpt", "113109", "Retain Device Identity Option"],
        "retain_institution_identity": ["rtnInstIdOpt", "113112", "Retain Institution Identity Option"],
        "retain_patient_characteristics": ["rtnPatCharsOpt", "113108", "Retain Patient Characteristics Option"],
        "retain_long_full_dates": ["rtnLongFullDatesOpt", "113106",
                                   "Retain Longitudinal Temporal Information Full Dates Option"],
        "retain_long_modified_dates": ["rtnLongModifDatesOpt", "113107",
                                       "Retain Longitudinal Temporal Information Modified Dates Option"],
        "clean_descriptors": ["cleanDescOpt", "113105", "Clean Descriptors Option"],
        "clean_structured_content": ["cleanStructContOpt", "113104", "Clean Structured Content Option"],
        "clean_graphics": ["cleanGraphOpt", "113103", "Clean Graphics Option"],
    }


def test_annex_e_facts():
    attributes = annex_e()["attributes"]
    assert len(attributes) >= 600
    assert attributes["(0010,0010)"] == {"name": "Patient's Name", "basic": "Z"}
    assert attributes["(0010,0020)"]["basic"] == "Z/D"
    assert attributes["(0020,000D)"]["basic"] == "U" and attributes["(0020,000D)"]["retain_uids"] == "K"
    acquisition_date = attributes["(0008,0022)"]
    assert acquisition_date["basic"] == "X/Z"
    assert acquisition_date["retain_long_full_dates"] == "K"
    assert acquisition_date["retain_long_modified_dates"] == "C"
    assert attributes["(50xx,xxxx)"]["clean_graphics"] == "C"
    assert attributes["(60xx,3000)"] == {"name": "Overlay Data", "basic": "X", "clean_graphics": "C"}
    assert attributes["(60xx,4000)"]["basic"] == "X"
    assert attributes["(gggg,eeee)"] == {"name": "Private Attributes", "basic": "X", "retain_safe_private": "C"}
    options = set(annex_e()["options"])
    for tag, entry in attributes.items():
        assert re.fullmatch(r"\([0-9A-F]{4},[0-9A-F]{4}\)", tag) or tag in bt.PATTERNS.values()
        assert set(entry) - {"name", "basic"} <= options
        assert all(code in bt.CODES for field, code in entry.items() if field != "name")


def test_safe_private_facts():
    safe = tomllib.loads(bt.SAFE_PRIVATE.read_text(encoding="utf-8"))["safe"]
    assert len(safe) == 130
    keys = [(e["tag"], e["creator"]) for e in safe]
    assert keys == sorted(set(keys))
    assert {"tag": "(7053,xx00)", "creator": "Philips PET Private Group", "vr": "DS"} in safe
    assert {"tag": "(0019,xx23)", "creator": "GEMS_ACQU_01", "vr": "DS"} in safe
    assert {"tag": "(0199,xx0A)", "creator": "NQLeft", "vr": "FL"} in safe
    assert ("(7FD1,xx10)", "SIEMENS SYNGO ULTRA-SOUND TOYON DATA STREAMING") in keys


def test_iod_types_facts():
    data = iod_types()
    assert top_level_types(data, US_IMAGE, "ContentDate") == {"2C"}
    assert "PatientID" in data["modules"]["patient"]
    ones = [uid for uid in data["iods"] if "1" in top_level_types(data, uid, "ContentDate")]
    assert ones


def test_runtime_never_imports_highdicom():
    package = Path(bt.__file__).resolve().parents[1]
    for path in package.rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+highdicom", path.read_text(encoding="utf-8"), re.M), path


@pytest.mark.parametrize("row, message", [
    ({"name": "A", "tag": "(0008,0050)", "basicProfile": "Q", "id": "1"}, "unknown action codes"),
    ({"name": "A", "tag": "(0008,0050)", "basicProfile": "Z", "newOpt": "K", "id": "1"}, "unknown columns"),
    ({"name": "A", "tag": "(0008,005X)", "basicProfile": "Z", "id": "1"}, "unknown tag pattern"),
])
def test_table_e1_1_doubts_stop_the_build(tmp_path, row, message):
    path = tmp_path / "table.json"
    path.write_text(json.dumps([row]))
    with pytest.raises(ValueError, match=message):
        bt.load_attributes(path)


def test_table_e1_1_conflicting_duplicate_stops_the_build(tmp_path):
    row = {"name": "A", "tag": "(0008,0050)", "basicProfile": "Z", "id": "1"}
    path = tmp_path / "table.json"
    path.write_text(json.dumps([row, row]))
    assert list(bt.load_attributes(path)) == ["(0008,0050)"]
    path.write_text(json.dumps([row, {**row, "basicProfile": "X"}]))
    with pytest.raises(ValueError, match="listed twice"):
        bt.load_attributes(path)


def test_spanning_grid_cell_stops_the_build():
    grid = ["+----+----+", "| a  | b  |", "+====+====+", "| a       |", "+----+----+"]
    with pytest.raises(ValueError, match="spanning"):
        bt.grid_rows(grid)
