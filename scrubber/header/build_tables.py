"""Generate the header stage's data files from the vendored DICOM standard tables.

Run as `.venv/bin/python -m scrubber.header.build_tables [--check]`. The tables are facts of the
standard, so they are generated rather than typed: a hand edit or a stale file is caught by
`--check`. Every doubt in a source (an unknown column, code or tag pattern, a conflicting
duplicate, a malformed grid) stops the build, so a changed source cannot silently drop a rule.

Only this script touches highdicom, and only to derive iod_types.json; it locates the package
without importing it, so a `pip install --no-deps highdicom` on PYTHONPATH is enough.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydicom.datadict import keyword_for_tag

from scrubber.header.table import CODES

HERE = Path(__file__).resolve().parent
STANDARD = HERE / "standard"
TABLE_E1_1 = STANDARD / "table_e1_1.json"
TABLE_E3_10_1 = STANDARD / "table_e3_10_1.rst"
ANNEX_E = HERE / "annex_e.toml"
IOD_TYPES = HERE / "iod_types.json"
SAFE_PRIVATE = HERE / "safe_private.toml"

COMMAND = ".venv/bin/python -m scrubber.header.build_tables"
EDITION = "2024e"

# (option name, Table E.1-1 column, CID 7050 code value, code meaning), in output order.
OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("retain_safe_private", "rtnSafePrivOpt", "113111", "Retain Safe Private Option"),
    ("retain_uids", "rtnUIDsOpt", "113110", "Retain UIDs Option"),
    ("retain_device_identity", "rtnDevIdOpt", "113109", "Retain Device Identity Option"),
    ("retain_institution_identity", "rtnInstIdOpt", "113112", "Retain Institution Identity Option"),
    ("retain_patient_characteristics", "rtnPatCharsOpt", "113108",
     "Retain Patient Characteristics Option"),
    ("retain_long_full_dates", "rtnLongFullDatesOpt", "113106",
     "Retain Longitudinal Temporal Information Full Dates Option"),
    ("retain_long_modified_dates", "rtnLongModifDatesOpt", "113107",
     "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("clean_descriptors", "cleanDescOpt", "113105", "Clean Descriptors Option"),
    ("clean_structured_content", "cleanStructContOpt", "113104", "Clean Structured Content Option"),
    ("clean_graphics", "cleanGraphOpt", "113103", "Clean Graphics Option"),
)
ROW_KEYS = frozenset({"name", "tag", "id", "stdCompIOD", "basicProfile"}) | {o[1] for o in OPTIONS}
PATTERNS = {
    "(50XX,XXXX)": "(50xx,xxxx)",
    "(60XX,3000)": "(60xx,3000)",
    "(60XX,4000)": "(60xx,4000)",
    "(GGGG,EEEE) WHERE GGGG IS ODD": "(gggg,eeee)",
}
TAG = re.compile(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)")
IOD_TYPE_VALUES = frozenset({"1", "1C", "2", "2C", "3"})
SAFE_HEADER = ["**Data Element**", "**Private Creator**", "**VR**", "**VM**", "**Meaning**"]
PRIVATE_TAG = re.compile(r"\(([0-9A-F]{3}[13579BDF]),xx([0-9A-F]{2})\)", re.IGNORECASE)
VR = re.compile(r"[A-Z]{2}|")

Attributes = dict[str, dict[str, str]]


def toml_string(value: str) -> str:
    """A TOML basic string; control characters are refused rather than escaped (none expected)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"control character in {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def inline_table(entries: Mapping[str, str]) -> str:
    """One TOML inline table, keys in the given order."""
    return "{ " + ", ".join(f"{k} = {toml_string(v)}" for k, v in entries.items()) + " }"


def tag_key(tag: str) -> str:
    """The output key of a Table E.1-1 tag: upper-case hex, or one of the known patterns."""
    if TAG.fullmatch(tag):
        return tag
    if tag in PATTERNS:
        return PATTERNS[tag]
    raise ValueError(f"Table E.1-1: unknown tag pattern {tag!r}")


def load_attributes(path: Path = TABLE_E1_1) -> Attributes:
    """{tag key: {name, basic, option...}} from Table E.1-1, checked and sorted by tag."""
    attributes: Attributes = {}
    for row in json.loads(path.read_text(encoding="utf-8")):
        unknown = set(row) - ROW_KEYS
        if unknown:
            raise ValueError(f"Table E.1-1: unknown columns {sorted(unknown)} in {row['tag']}")
        entry = {"name": " ".join(row["name"].split()), "basic": row["basicProfile"]}
        entry.update({name: row[column] for name, column, _, _ in OPTIONS if row.get(column)})
        key = tag_key(row["tag"])
        bad = [code for field, code in entry.items() if field != "name" and code not in CODES]
        if bad:
            raise ValueError(f"Table E.1-1: unknown action codes {bad} in {key}")
        if key in attributes and attributes[key] != entry:
            raise ValueError(f"Table E.1-1: {key} is listed twice, differently")
        attributes[key] = entry
    return dict(sorted(attributes.items()))


def render_annex_e(attributes: Attributes) -> str:
    """annex_e.toml: the option columns and one line per Table E.1-1 row."""
    lines = [
        "# PS3.15 Annex E Table E.1-1, Application Level Confidentiality Profile Attributes,",
        f"# DICOM {EDITION}. GENERATED by `{COMMAND}` from",
        "# scrubber/header/standard/table_e1_1.json (see standard/README.md): do not edit by hand.",
        "#",
        "# [attributes]: tag = { name, basic = Basic Profile action, option = action under that",
        "# option }. Real tags in upper-case hex; patterns in lower case: x is any hex digit and",
        '# "(gggg,eeee)" is every private attribute (odd group).',
        "#",
        "# Action codes (PS3.15 E.3.1):",
        "#   X  remove",
        "#   Z  replace with a zero-length value (or a dummy value consistent with the VR)",
        "#   D  replace with a non-zero-length dummy value consistent with the VR",
        "#   K  keep (unchanged for non-sequence attributes, cleaned for sequences)",
        "#   C  clean: replace with values of similar meaning that do not identify",
        "#   U  replace with a non-zero-length UID, consistent within the set of instances",
        "# The combined codes X/Z, X/D, X/Z/D, Z/D and X/Z/U* are resolved at run time from the",
        "# attribute's type in the file's IOD (iod_types.json): X unless the IOD requires the",
        "# attribute, then Z where a zero-length value is allowed (type 2), else D or U (type 1).",
        "",
        "[options]",
        "# option name = [table column, CID 7050 code value, code meaning]",
    ]
    lines += [f"{name} = [{', '.join(map(toml_string, rest))}]" for name, *rest in OPTIONS]
    lines += ["", "[attributes]"]
    lines += [f"{toml_string(key)} = {inline_table(entry)}" for key, entry in attributes.items()]
    text = "\n".join(lines) + "\n"
    expected = {"options": {o[0]: list(o[1:]) for o in OPTIONS}, "attributes": attributes}
    if tomllib.loads(text) != expected:
        raise AssertionError("annex_e.toml does not read back as generated")
    return text


def grid_rows(lines: Sequence[str]) -> list[list[str]]:
    """The cells of an RST grid table without spans, wrapped cell lines joined by one space."""
    grid = [line.strip() for line in lines if line.strip()[:1] in ("+", "|")]
    if not grid or not re.fullmatch(r"(\+-+)+\+", grid[0]):
        raise ValueError("Table E.3.10-1: no grid table found")
    bounds = [i for i, c in enumerate(grid[0]) if c == "+"]
    rows: list[list[str]] = []
    cells: list[list[str]] = []
    for line in grid[1:]:
        if len(line) != bounds[-1] + 1:
            raise ValueError(f"Table E.3.10-1: ragged line {line!r}")
        if line[0] == "+":
            if [i for i, c in enumerate(line) if c == "+"] != bounds or not cells:
                raise ValueError(f"Table E.3.10-1: spanning or empty row at {line!r}")
            rows.append([" ".join(p.strip() for p in parts if p.strip()) for parts in cells])
            cells = []
            continue
        if any(line[i] != "|" for i in bounds):
            raise ValueError(f"Table E.3.10-1: spanning cell at {line!r}")
        parts = [line[a + 1:b] for a, b in zip(bounds, bounds[1:])]
        cells = [[p] for p in parts] if not cells else [c + [p] for c, p in zip(cells, parts)]
    if cells:
        raise ValueError("Table E.3.10-1: the grid does not end with a border")
    return rows


def load_safe_private(path: Path = TABLE_E3_10_1) -> list[dict[str, str]]:
    """[{tag, creator, vr}] from Table E.3.10-1, sorted by (tag, creator), duplicates dropped.

    Hex digits are upper-cased (the standard writes a few in lower case), "xx" stays lower case.
    A VR the standard leaves blank (a few SIEMENS rows) stays "": the reader decides what it means.
    """
    rows = grid_rows(path.read_text(encoding="utf-8").splitlines())
    if not rows or rows[0] != SAFE_HEADER:
        raise ValueError(f"Table E.3.10-1: unexpected header {rows[:1]}")
    found: dict[tuple[str, str], str] = {}
    for cell, creator, vr, _vm, _meaning in rows[1:]:
        match = PRIVATE_TAG.fullmatch(cell)
        if match is None or not VR.fullmatch(vr) or not creator or "\\" in creator:
            raise ValueError(f"Table E.3.10-1: malformed row {cell!r} {creator!r} {vr!r}")
        tag = f"({match[1].upper()},xx{match[2].upper()})"
        if found.setdefault((tag, creator), vr) != vr:
            raise ValueError(f"Table E.3.10-1: {tag} {creator} is listed with two VRs")
    return [{"tag": t, "creator": c, "vr": vr} for (t, c), vr in sorted(found.items())]


def render_safe_private(entries: Sequence[Mapping[str, str]]) -> str:
    """safe_private.toml: the Retain Safe Private Option's list."""
    lines = [
        "# PS3.15 Table E.3.10-1, Safe Private Attributes, the list of the Retain Safe Private",
        f"# Option. GENERATED by `{COMMAND}` from",
        "# scrubber/header/standard/table_e3_10_1.rst (see standard/README.md): do not edit by hand.",
        "# Sorted by (tag, creator); xx is the private block reserved by the creator. An empty vr is",
        "# blank in the standard.",
        "safe = [",
    ]
    lines += [f"  {inline_table(entry)}," for entry in entries]
    text = "\n".join(lines + ["]"]) + "\n"
    if tomllib.loads(text) != {"safe": list(entries)}:
        raise AssertionError("safe_private.toml does not read back as generated")
    return text


def highdicom_standard() -> tuple[Path, str] | None:
    """highdicom's _standard folder and version, found without importing highdicom."""
    spec = importlib.util.find_spec("highdicom")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "_standard"
    return folder, importlib.metadata.version("highdicom")


def combined_keywords(attributes: Attributes) -> set[str]:
    """Keywords of the rows whose basic action depends on the IOD; each must be a known tag."""
    keywords = set()
    for key, entry in attributes.items():
        if "/" in entry["basic"]:
            match = TAG.fullmatch(key)
            keyword = keyword_for_tag(int("".join(match.groups()), 16)) if match else ""
            if not keyword:
                raise ValueError(f"Table E.1-1: {key} has a combined action but no keyword")
            keywords.add(keyword)
    return keywords


def read_json(path: Path) -> Any:
    """A JSON file's content."""
    return json.loads(path.read_text(encoding="utf-8"))


def render_iod_types(attributes: Attributes, folder: Path, version: str) -> str:
    """iod_types.json: per module the types of the combined-action attributes, per IOD its modules.

    Only modules of a SOP class's IOD are read: the others belong to normalized IODs (print,
    worklist), whose tables have no Type column (highdicom writes "None").
    """
    wanted = combined_keywords(attributes)
    module_map: dict[str, list[dict[str, Any]]] = read_json(folder / "module_attribute_map.json")
    iod_map: dict[str, list[dict[str, str]]] = read_json(folder / "iod_module_map.json")
    sop_map: dict[str, str] = read_json(folder / "sop_class_iod_map.json")
    used = {m["key"] for iod in sop_map.values() for m in iod_map[iod]}
    modules: dict[str, dict[str, str]] = {}
    for module, entries in sorted(module_map.items()):
        if module not in used:
            continue
        types: dict[str, str] = {}
        for item in entries:
            if item["keyword"] not in wanted:
                continue
            if item["type"] not in IOD_TYPE_VALUES:
                raise ValueError(f"highdicom: type {item['type']!r} of {item['keyword']} in {module}")
            path = "/".join([*item["path"], item["keyword"]])
            if types.setdefault(path, item["type"]) != item["type"]:
                raise ValueError(f"highdicom: two types for {path} in {module}")
        if types:
            modules[module] = dict(sorted(types.items()))
    iods = {
        uid: list(dict.fromkeys(m["key"] for m in iod_map[iod] if m["key"] in modules))
        for uid, iod in sorted(sop_map.items())
    }
    source = (
        f"highdicom {version} (highdicom/_standard, derived from innolitics/dicom-standard; "
        f"edition not recorded by highdicom), for the combined-action rows of Table E.1-1 "
        f"DICOM {EDITION}. GENERATED by `{COMMAND}`: do not edit by hand."
    )
    return json.dumps({"source": source, "modules": modules, "iods": iods}, indent=1) + "\n"


def generate(with_iod_types: bool = True) -> dict[Path, str]:
    """The text each output file should have; iod_types.json only where highdicom is found."""
    attributes = load_attributes()
    outputs = {
        ANNEX_E: render_annex_e(attributes),
        SAFE_PRIVATE: render_safe_private(load_safe_private()),
    }
    found = highdicom_standard() if with_iod_types else None
    if found is not None:
        outputs[IOD_TYPES] = render_iod_types(attributes, *found)
    return outputs


def stale(outputs: Mapping[Path, str]) -> list[Path]:
    """The output files whose committed text differs from the generated one."""
    return [p for p, text in outputs.items()
            if not p.is_file() or p.read_text(encoding="utf-8") != text]


def main(argv: Iterable[str] | None = None) -> int:
    """Write the outputs, or with --check compare them and return 1 on any difference."""
    parser = argparse.ArgumentParser(prog="python -m scrubber.header.build_tables",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    args = parser.parse_args(None if argv is None else list(argv))
    outputs = generate()
    if IOD_TYPES not in outputs:
        print(f"skipped {IOD_TYPES.name}: highdicom is not importable (pip install --no-deps "
              "highdicom, or put its site-packages on PYTHONPATH)", file=sys.stderr)
    names = ", ".join(sorted(p.name for p in outputs))
    if not args.check:
        for path, text in outputs.items():
            path.write_text(text, encoding="utf-8")
        print(f"wrote {names}")
        return 0
    differ = stale(outputs)
    for path in differ:
        print(f"stale: {path.relative_to(HERE.parents[1])}", file=sys.stderr)
    print(f"checked {names}: {len(differ)} stale")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
