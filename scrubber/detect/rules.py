"""Known-location rules: burned-in text that a device always writes in the same place.

A rule names header conditions (manufacturer, model, image size ...) and the regions to blank when
they hold. Rules are data (``scrubber/rules/*.toml`` plus the user's folders), so adding a device is
a file edit, not a code change. Matching reads header values only; it never decodes pixels.

Semantics follow RSNA CTP's DicomPixelAnonymizer, whose region table is imported into
``scrubber/rules/ctp.toml``: a multi-valued element is compared as its values joined by ``\\``, and a
negative x (y) counts from the right (bottom) edge. Unlike CTP, which blanks the regions of the first
matching signature only, every matching rule applies (the union removes more, never less).
"""
from __future__ import annotations

import functools
import math
import operator
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence

from .boxes import Box, Detection

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "rules"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
HEX_TAG = re.compile(r"\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
Region = tuple[int, int, int, int]  # x, y, width, height (x, y < 0: from the right / bottom edge)


class RuleError(ValueError):
    """A rule file that cannot be used; the message names the file and, where known, the rule."""


@dataclass(frozen=True, slots=True)
class OpSpec:
    """How an op compares: ``kind`` says what its value is (text, regex, number or none)."""

    kind: str
    test: Callable[..., bool]
    fold: bool = False


def _fullmatch(text: str, pattern: re.Pattern[str]) -> bool:
    return pattern.fullmatch(text) is not None


OPS: dict[str, OpSpec] = {
    "equals": OpSpec("text", operator.eq),
    "equals_ignore_case": OpSpec("text", operator.eq, fold=True),
    "contains": OpSpec("text", operator.contains),
    "contains_ignore_case": OpSpec("text", operator.contains, fold=True),
    "starts_with": OpSpec("text", str.startswith),
    "starts_with_ignore_case": OpSpec("text", str.startswith, fold=True),
    "ends_with": OpSpec("text", str.endswith),
    "ends_with_ignore_case": OpSpec("text", str.endswith, fold=True),
    "matches": OpSpec("regex", _fullmatch),
    "less_than": OpSpec("number", operator.lt),
    "greater_than": OpSpec("number", operator.gt),
    "is_blank": OpSpec("none", operator.not_),
}


def _one(value: object) -> str | None:
    """One value as text (numbers as written in the file for IS/DS); None when binary."""
    return None if isinstance(value, bytes | bytearray | DicomSequence) else str(value)


def _render(value: object) -> str | None:
    """An element value as text, the way CTP sees it; None for binary values and sequences."""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        parts = [_one(v) for v in value]
        return None if any(p is None for p in parts) else "\\".join(parts)  # type: ignore[arg-type]
    return _one(value)


class Header:
    """Header values of one dataset as text, looked up once per tag however many rules ask."""

    __slots__ = ("ds", "_text", "_lower")

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self._text: dict[int, str | None] = {}
        self._lower: dict[int, str | None] = {}

    def text(self, tag: int) -> str | None:
        """The value as text; None when the element is absent, binary or unreadable."""
        try:
            return self._text[tag]
        except KeyError:
            pass
        source = self.ds.file_meta if tag >> 16 == 2 and hasattr(self.ds, "file_meta") else self.ds
        try:
            element = source.get(tag)
            value = None if element is None else _render(element.value)
        except Exception:  # a value pydicom cannot convert matches nothing, like an absent one
            value = None
        self._text[tag] = value
        return value

    def lower(self, tag: int) -> str | None:
        try:
            return self._lower[tag]
        except KeyError:
            text = self.text(tag)
            self._lower[tag] = folded = None if text is None else text.lower()
            return folded

    def number(self, tag: int) -> float | None:
        text = self.text(tag)
        return float(text) if text is not None and NUMBER.fullmatch(text.strip()) else None

    def size(self) -> tuple[int, int] | None:
        """(Rows, Columns) when both are positive integers."""
        rows, columns = self.text(0x00280010), self.text(0x00280011)
        if rows is None or columns is None or not rows.isdigit() or not columns.isdigit():
            return None
        return (int(rows), int(columns)) if int(rows) > 0 and int(columns) > 0 else None


@dataclass(frozen=True, slots=True)
class Leaf:
    """One comparison of one element's value; ``needle`` is the value prepared for the op."""

    tag: int
    label: str  # the tag as the rule file wrote it
    op: str
    value: str | float | None
    needle: object = field(compare=False, repr=False)

    def test(self, header: Header) -> bool:
        spec = OPS[self.op]
        if spec.kind == "none":
            return spec.test((header.text(self.tag) or "").strip())
        if spec.kind == "number":
            number = header.number(self.tag)
            return number is not None and spec.test(number, self.needle)
        text = header.lower(self.tag) if spec.fold else header.text(self.tag)
        return text is not None and spec.test(text, self.needle)

    def describe(self) -> str:
        if self.value is None:
            return f"{self.label} {self.op}"
        value = f'"{self.value}"' if isinstance(self.value, str) else f"{self.value:g}"
        return f"{self.label} {self.op} {value}"


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Condition, ...]

    def test(self, header: Header) -> bool:
        return all(part.test(header) for part in self.parts)

    def describe(self) -> str:
        return " and ".join(_grouped(p) for p in self.parts)


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Condition, ...]

    def test(self, header: Header) -> bool:
        return any(part.test(header) for part in self.parts)

    def describe(self) -> str:
        return " or ".join(_grouped(p) for p in self.parts)


@dataclass(frozen=True, slots=True)
class NotOf:
    part: Condition

    def test(self, header: Header) -> bool:
        return not self.part.test(header)

    def describe(self) -> str:
        return f"not {_grouped(self.part)}"


Condition = Leaf | AllOf | AnyOf | NotOf


def _grouped(condition: Condition) -> str:
    text = condition.describe()
    return f"({text})" if isinstance(condition, AllOf | AnyOf) and len(condition.parts) > 1 else text


def clip(region: Region, width: int, height: int) -> Box | None:
    """A region as a half-open box inside a width x height image; None when it falls outside."""
    x, y, w, h = region
    x0 = x + width if x < 0 else x
    y0 = y + height if y < 0 else y
    box = (max(0, x0), max(0, y0), min(width, x0 + w), min(height, y0 + h))
    return box if box[2] > box[0] and box[3] > box[1] else None


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule as loaded; ``file`` is the TOML it came from, ``source`` its stated provenance."""

    name: str
    file: Path
    builtin: bool
    when: Condition
    regions: tuple[Region, ...]
    source: str = ""
    note: str = ""

    @property
    def origin(self) -> str:
        """The rule file for people: built-in files by name, user files by path."""
        return f"built-in:{self.file.name}" if self.builtin else str(self.file)

    def boxes(self, width: int, height: int) -> tuple[Box, ...]:
        clipped = (clip(region, width, height) for region in self.regions)
        return tuple(box for box in clipped if box is not None)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that holds for a dataset, with its regions as boxes clipped to Rows x Columns
    (empty when every region falls outside the image)."""

    name: str
    file: Path
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class RuleSet:
    """Rules in load order: built-in files first, then each user folder's files by name."""

    rules: tuple[Rule, ...] = ()

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def match(self, ds: Dataset) -> list[RuleMatch]:
        """Every rule whose conditions hold; none for a dataset without Rows and Columns."""
        if not self.rules:
            return []
        header = Header(ds)
        size = header.size()
        if size is None:
            return []
        rows, columns = size
        return [RuleMatch(rule.name, rule.file, rule.boxes(columns, rows))
                for rule in self.rules if rule.when.test(header)]


def rule_detections(ruleset: RuleSet, ds: Dataset, frames: int) -> list[list[Detection]]:
    """Per frame, a Detection for every box of every matching rule (a known location holds text
    in every frame); the detector is ``rule:<name>``, the rendering ``header``."""
    found = [Detection(box, f"rule:{m.name}", "header") for m in ruleset.match(ds) for box in m.boxes]
    return [list(found) for _ in range(frames)]


def parse_tag(text: object) -> int:
    """A keyword (``Manufacturer``) or ``(gggg,eeee)``; Pixel Data and its group are refused,
    because rules read header values only."""
    if not isinstance(text, str):
        raise ValueError(f"tag must be a string, got {text!r}")
    hexed = HEX_TAG.fullmatch(text.strip())
    tag = (int(hexed[1], 16) << 16 | int(hexed[2], 16)) if hexed else tag_for_keyword(text.strip())
    if tag is None:
        raise ValueError(f"unknown tag {text!r} (a DICOM keyword or (gggg,eeee))")
    if tag >> 16 == 0x7FE0:
        raise ValueError(f"tag {text!r} is pixel data; rules read header values only")
    return tag


def _value(op: str, spec: OpSpec, node: dict) -> tuple[str | float | None, object]:
    if spec.kind == "none":
        if "value" in node:
            raise ValueError(f"op {op!r} takes no value")
        return None, None
    if "value" not in node:
        raise ValueError(f"op {op!r} needs a value")
    value = node["value"]
    if spec.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"op {op!r} needs a number, got {value!r}")
        return value, float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"op {op!r} needs a string value, got {value!r}")
    if spec.kind == "regex":
        try:
            return value, re.compile(value, re.ASCII)
        except re.error as exc:
            raise ValueError(f"bad regular expression {value!r}: {exc}") from None
    return value, value.lower() if spec.fold else value


def parse_condition(node: object) -> Condition:
    """A condition from its TOML form: a leaf ``{tag, op, value}`` or ``{all|any = [...]}`` or
    ``{not = {...}}``; raises ValueError saying what is wrong."""
    if not isinstance(node, dict):
        raise ValueError(f"a condition must be a table, got {node!r}")
    groups = [key for key in ("all", "any", "not") if key in node]
    if groups:
        if len(node) != 1:
            raise ValueError(f"a condition table holds one of all/any/not and nothing else, got {sorted(node)}")
        key = groups[0]
        if key == "not":
            return NotOf(parse_condition(node["not"]))
        parts = node[key]
        if not isinstance(parts, list) or not parts:
            raise ValueError(f"{key!r} needs a non-empty list of conditions")
        parsed = tuple(parse_condition(part) for part in parts)
        return AllOf(parsed) if key == "all" else AnyOf(parsed)
    unknown = set(node) - {"tag", "op", "value"}
    if unknown or "tag" not in node or "op" not in node:
        raise ValueError(f"a leaf condition has tag, op and value; got keys {sorted(node)}")
    op = node["op"]
    if op not in OPS:
        raise ValueError(f"unknown op {op!r} (one of {', '.join(OPS)})")
    value, needle = _value(op, OPS[op], node)
    return Leaf(parse_tag(node["tag"]), node["tag"].strip(), op, value, needle)


def _region(item: object) -> Region:
    if (not isinstance(item, list) or len(item) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
        raise ValueError(f"a region is [x, y, width, height] in whole pixels, got {item!r}")
    if item[2] <= 0 or item[3] <= 0:
        raise ValueError(f"a region needs a positive width and height, got {item!r}")
    return item[0], item[1], item[2], item[3]


def parse_rule(table: object, file: Path, builtin: bool) -> Rule:
    """One ``[[rule]]`` table; ValueError names the problem (the caller adds file and rule)."""
    if not isinstance(table, dict):
        raise ValueError("[[rule]] entries must be tables")
    unknown = set(table) - {"name", "source", "note", "when", "regions"}
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} (name, source, note, when, regions)")
    for key in ("source", "note"):
        if not isinstance(table.get(key, ""), str):
            raise ValueError(f"{key} must be a string")
    if "when" not in table:
        raise ValueError("no 'when' condition")
    regions = table.get("regions")
    if not isinstance(regions, list) or not regions:
        raise ValueError("'regions' must be a non-empty list of [x, y, width, height]")
    return Rule(table["name"], file, builtin, parse_condition(table["when"]),
                tuple(_region(r) for r in regions), table.get("source", ""), table.get("note", ""))


def load_file(path: Path, builtin: bool = False) -> tuple[Rule, ...]:
    """Every rule of one TOML file; RuleError names the file and the rule."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RuleError(f"{path}: cannot read rules: {exc}") from None
    unknown = set(document) - {"rule", "provenance"}
    if unknown:
        raise RuleError(f"{path}: unknown top-level key(s) {sorted(unknown)} (rule, provenance)")
    tables = document.get("rule")
    if not isinstance(tables, list) or not tables:
        raise RuleError(f"{path}: no [[rule]] tables")
    rules = []
    for index, table in enumerate(tables, 1):
        name = table.get("name") if isinstance(table, dict) else None
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise RuleError(f"{path}: rule #{index}: name must be 1-100 of [A-Za-z0-9._-], "
                            f"starting with a letter or digit; got {name!r}")
        try:
            rules.append(parse_rule(table, path, builtin))
        except ValueError as exc:
            raise RuleError(f"{path}: rule {name!r}: {exc}") from None
    return tuple(rules)


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise RuleError(f"{folder}: rules folder not found")
    return sorted(p for p in folder.glob("*.toml") if p.is_file())


def _unique(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.name in seen:
            raise RuleError(f"{rule.file}: rule {rule.name!r}: name already used in {seen[rule.name].file}")
        seen[rule.name] = rule
    return tuple(seen.values())


@functools.cache
def builtin_rules() -> tuple[Rule, ...]:
    """The rules shipped with scrubber, read once per process."""
    return _unique(rule for path in _files(BUILTIN_DIR) for rule in load_file(path, builtin=True))


def load_rules(extra_dirs: Sequence[Path | str] = ()) -> RuleSet:
    """The built-in rules plus every ``*.toml`` in each user folder; rule names must be unique."""
    user = (rule for folder in extra_dirs for path in _files(Path(folder)) for rule in load_file(path))
    return RuleSet(_unique([*builtin_rules(), *user]))


@functools.lru_cache(maxsize=8)
def rules_for(rules_dirs: tuple[str, ...], known_locations: bool = True) -> RuleSet:
    """The rule set a Policy asks for (``Policy.rules_dirs``, ``Policy.known_locations``), loaded
    once per process; with known_locations off there are no rules."""
    return load_rules(rules_dirs) if known_locations else RuleSet()
