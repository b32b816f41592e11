"""PS3.15 Table E.1-1 as data: the action for every listed attribute, under the Basic Profile and
under each option, read from annex_e.toml (generated from the standard by build_tables.py).

The table is checked strictly when loaded: an unknown action code or option is a packaging error,
and a wrong table must stop every run rather than let an attribute through unnoticed.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

TABLE_PATH = Path(__file__).with_name("annex_e.toml")

# Codes of PS3.15 E.1.1 / Table E.1-1. The combined ones leave the choice to the attribute's type
# in the IOD (see resolve.py).
CODES = frozenset({"X", "Z", "D", "K", "C", "U", "X/Z", "X/D", "X/Z/D", "Z/D", "X/Z/U*"})
# Options that cannot be used together: the two ways of treating dates.
EXCLUSIVE = (frozenset({"retain_long_full_dates", "retain_long_modified_dates"}),)

_TAG = re.compile(r"^\(([0-9A-F]{4}),([0-9A-F]{4})\)$")
OVERLAY_DATA, OVERLAY_COMMENTS, CURVE, PRIVATE = "(60xx,3000)", "(60xx,4000)", "(50xx,xxxx)", "(gggg,eeee)"
PATTERNS = (OVERLAY_DATA, OVERLAY_COMMENTS, CURVE, PRIVATE)


@dataclass(frozen=True, slots=True)
class OptionInfo:
    """One Annex E option: its table column and its CID 7050 code (recorded in the output)."""

    name: str
    column: str
    code: str
    meaning: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of Table E.1-1: the Basic Profile code and the code under each option that names it."""

    name: str
    basic: str
    options: Mapping[str, str]

    def code(self, selected: Iterable[str]) -> str:
        """The code that applies with these options. An option's code replaces the basic one; when
        two selected options disagree, C (retain after cleaning) wins over K (retain as is)."""
        codes = {self.options[o] for o in selected if o in self.options}
        if not codes:
            return self.basic
        return "C" if "C" in codes else codes.pop()


@dataclass(frozen=True, slots=True)
class ActionTable:
    """Rules by tag, the pattern rows (overlays, curves, private), and the options."""

    rules: Mapping[int, Rule]
    patterns: Mapping[str, Rule]
    options: Mapping[str, OptionInfo]

    def rule(self, tag: int) -> Rule | None:
        """The rule for a public tag, pattern rows included (repeating groups 50xx and 60xx)."""
        found = self.rules.get(tag)
        if found is not None:
            return found
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1:
            return self.patterns[PRIVATE]
        if 0x5000 <= group <= 0x501E:
            return self.patterns[CURVE]
        if 0x6000 <= group <= 0x601E:
            if element == 0x3000:
                return self.patterns[OVERLAY_DATA]
            if element == 0x4000:
                return self.patterns[OVERLAY_COMMENTS]
        return None

    def check_options(self, selected: Iterable[str]) -> frozenset[str]:
        """Return the selection as a set; raise ValueError for an unknown or contradictory one."""
        chosen = frozenset(selected)
        unknown = sorted(chosen - set(self.options))
        if unknown:
            raise ValueError(f"unknown header option(s) {unknown}; known: {sorted(self.options)}")
        for group in EXCLUSIVE:
            if len(chosen & group) > 1:
                raise ValueError(f"header options {sorted(group)} exclude each other")
        return chosen


def _code(value: object, where: str) -> str:
    if not isinstance(value, str) or value not in CODES:
        raise ValueError(f"action table: bad action {value!r} for {where}")
    return value


def parse_table(text: str) -> ActionTable:
    """Build the ActionTable from the TOML text; raise ValueError on anything unexpected."""
    data = tomllib.loads(text)
    if set(data) != {"options", "attributes"}:
        raise ValueError("action table: expected exactly the sections [options] and [attributes]")
    options: dict[str, OptionInfo] = {}
    for name, value in data["options"].items():
        if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) for v in value)):
            raise ValueError(f"action table: option {name!r} must be [column, code, meaning]")
        options[name] = OptionInfo(name, *value)
    rules: dict[int, Rule] = {}
    patterns: dict[str, Rule] = {}
    for key, row in data["attributes"].items():
        if not isinstance(row, dict) or "basic" not in row or "name" not in row:
            raise ValueError(f"action table: row {key!r} needs a name and a basic action")
        extra = set(row) - {"name", "basic"} - set(options)
        if extra:
            raise ValueError(f"action table: row {key!r} names unknown option(s) {sorted(extra)}")
        rule = Rule(
            name=str(row["name"]),
            basic=_code(row["basic"], key),
            options=MappingProxyType({o: _code(row[o], f"{key} {o}") for o in options if o in row}),
        )
        match = _TAG.match(key)
        if match:
            rules[int(match[1] + match[2], 16)] = rule
        elif key in PATTERNS:
            patterns[key] = rule
        else:
            raise ValueError(f"action table: {key!r} is neither a tag nor a known pattern")
    missing = sorted(set(PATTERNS) - set(patterns))
    if missing:
        raise ValueError(f"action table: pattern rows {missing} are missing")
    return ActionTable(MappingProxyType(rules), MappingProxyType(patterns), MappingProxyType(options))


@lru_cache(maxsize=None)
def load_table(path: Path = TABLE_PATH) -> ActionTable:
    """Return the table shipped with the package (read once per process)."""
    return parse_table(path.read_text(encoding="utf-8"))
