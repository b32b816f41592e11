"""Convert RSNA CTP's DicomPixelAnonymizer region table into scrubber's rule format.

Run as `.venv/bin/python -m scrubber.rules.import_ctp [SCRIPT] [-o OUT] [--check]` (defaults: the
vendored script in ``standard/`` and ``ctp.toml``). The regions are facts about devices, so they are
converted rather than retyped, and `--check` fails when the committed file differs from a fresh
conversion. A block whose condition scrubber's ops cannot express exactly is skipped and reported,
never approximated.

The script language (CTP's DicomObject.matches): ``{ condition }`` followed by regions
``(x,y,width,height)``; everything else is comment. A condition combines operands
``Element.method("value")`` with ``!`` (not), ``*`` (and, binds tighter) and ``+`` (or), with
parentheses and ``//`` line comments. An absent element reads as the empty string.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom.datadict import tag_for_keyword

from scrubber.detect.rules import parse_rule

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "standard" / "DicomPixelAnonymizer.script"
OUTPUT = HERE / "ctp.toml"
REPO = "johnperry/CTP"
COMMIT = "361e90f8032fbb343000f3397159ae24a001229a"
PATH = "source/files/scripts/DicomPixelAnonymizer.script"
COMMAND = ("python -m scrubber.rules.import_ctp scrubber/rules/standard/DicomPixelAnonymizer.script "
           "-o scrubber/rules/ctp.toml")

BLOCK = re.compile(r"\{([^}]*)\}")
REGION = re.compile(r"\(([^)]*)\)")
REGION_NUMBERS = re.compile(r"\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*")
STARS = re.compile(r"\*{3,}")
HEX = re.compile(r"[0-9A-Fa-f]{1,8}")
HEX_PAIR = re.compile(r"([0-9A-Fa-f]{0,4}),([0-9A-Fa-f]{1,4})")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# CTP method -> scrubber op with the same result on the same text.
METHODS = {
    "equals": "equals", "equalsIgnoreCase": "equals_ignore_case",
    "contains": "contains", "containsIgnoreCase": "contains_ignore_case",
    "startsWith": "starts_with", "startsWithIgnoreCase": "starts_with_ignore_case",
    "endsWith": "ends_with", "endsWithIgnoreCase": "ends_with_ignore_case",
    "matches": "matches",
}
NUMERIC_METHODS = ("isLessThan", "isGreaterThan")
# Regex escapes that mean the same in Java and in Python with re.ASCII.
SAME_ESCAPES = frozenset("dDsSwWbBntrfaAxu123456789")
SLUG_TAGS = frozenset({"Modality", "(0008,0060)", "Manufacturer", "(0008,0070)", "ManufacturerModelName",
                       "(0008,1090)", "ImplementationVersionName", "(0002,0013)"})
SIZE_TAGS = frozenset({"Rows", "Columns", "(0028,0010)", "(0028,0011)"})


class Untranslatable(Exception):
    """A block that scrubber's rule format cannot express exactly; the message says why."""


@dataclass(frozen=True)
class Block:
    """One ``{ condition }`` with the regions that follow it and the comment before it."""

    number: int
    line: int
    script: str
    regions: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class Skipped:
    number: int
    line: int
    reason: str


def _clean(text: str) -> str:
    return " ".join(CONTROL.sub(" ", text).split())


def _comment(gap: str, section: str) -> tuple[str, str]:
    """(section, label) from the comment text before a block: a section is a line between two
    lines of stars; the label is what follows the last line of stars."""
    lines = [_clean(line) for line in REGION.sub("", gap).splitlines()]
    stars = [i for i, line in enumerate(lines) if STARS.fullmatch(line.replace(" ", ""))]
    for first, second in zip(stars, stars[1:]):
        headings = [line for line in lines[first + 1:second] if line]
        section = headings[-1] if headings else section
    label = [line for line in lines[stars[-1] + 1 if stars else 0:] if line]
    return section, " / ".join(label)


def split_blocks(text: str) -> list[Block]:
    """Every block in file order (text before the first block is the file's preamble)."""
    found = list(BLOCK.finditer(text))
    blocks, section, label = [], "", ""
    for index, match in enumerate(found):
        gap = text[found[index - 1].end() if index else 0:match.start()]
        section, new_label = _comment(gap, section)
        label = new_label or label
        end = found[index + 1].start() if index + 1 < len(found) else len(text)
        regions = tuple(m[1] for m in REGION.finditer(text, match.end(), end))
        note = " / ".join(part for part in (section, label) if part)
        blocks.append(Block(index + 1, text.count("\n", 0, match.start()) + 1, match[1], regions, note))
    return blocks


def _field(script: str, start: int, delim: str) -> tuple[str, int]:
    """Text up to ``delim`` outside double quotes, as CTP reads an operand's parts."""
    quoted = False
    for index in range(start, len(script)):
        char = script[index]
        if char == '"':
            quoted = not quoted
        elif char == delim and not quoted:
            return script[start:index], index + 1
    raise Untranslatable(f"incomplete operand {_clean(script[start:])!r} (no {delim!r})")


def tokenize(script: str) -> list[tuple[str, tuple[str, str, str] | None]]:
    """Tokens ``(kind, operand)``: kind is "operand", "(", ")", "+", "*" or "!"."""
    tokens: list[tuple[str, tuple[str, str, str] | None]] = []
    index = 0
    while index < len(script):
        char = script[index]
        if char.isspace():
            index += 1
        elif script.startswith("//", index):
            newline = script.find("\n", index)
            index = len(script) if newline < 0 else newline + 1
        elif char == "[" or char.isalpha():
            if script[index:].strip() in ("true", "false"):
                raise Untranslatable(f"constant operand {script[index:].strip()!r} is not supported")
            identifier, index = _field(script, index, ".")
            method, index = _field(script, index, "(")
            value, index = _field(script, index, ")")
            tokens.append(("operand", (identifier.strip(), method.strip(), value.strip())))
        elif char in "()+*!":
            tokens.append((char, None))
            index += 1
        else:
            raise Untranslatable(f"unexpected character {char!r} (CTP cannot parse the block)")
    return tokens


def _tag(identifier: str) -> str:
    """A keyword pydicom knows, or (gggg,eeee); CTP tries the name first, then hex."""
    name = identifier[1:-1].strip() if identifier.startswith("[") and identifier.endswith("]") else identifier
    if "::" in name or "[" in name or name.startswith("root:"):
        raise Untranslatable(f"element {identifier!r}: sequence paths and private-creator "
                             "specifiers are not supported")
    if tag_for_keyword(name) is not None:
        return name
    if HEX.fullmatch(name):
        tag = int(name, 16)
    elif pair := HEX_PAIR.fullmatch(name):
        tag = int(pair[1] or "0", 16) << 16 | int(pair[2], 16)
    else:
        raise Untranslatable(f"unknown element {identifier!r}")
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _same_regex(pattern: str) -> bool:
    """True when the Java regex means the same to Python's re (ASCII classes): no nested or
    intersected classes, only escapes both read alike."""
    in_class, index = False, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            following = pattern[index + 1:index + 2]
            if following.isalnum() and following not in SAME_ESCAPES:
                return False
            index += 2
            continue
        if char == "[":
            if in_class:
                return False
            in_class = True
            index += 3 if pattern.startswith("[^]", index) else 2 if pattern.startswith("[]", index) else 1
            continue
        if char == "]":
            in_class = False
        elif char == "&" and in_class and pattern.startswith("&&", index):
            return False
        index += 1
    return not in_class


def _leaf(identifier: str, method: str, raw: str) -> dict:
    if method in NUMERIC_METHODS:
        raise Untranslatable(f"{method}: CTP compares only the digits and dots of both sides "
                             "(signs and letters dropped), scrubber's less_than/greater_than compare numbers")
    if method not in METHODS:
        raise Untranslatable(f"unknown method {method!r} (CTP evaluates it as false)")
    if not (len(raw) > 1 and raw[0] == raw[-1] == '"') or '"' in raw[1:-1]:
        raise Untranslatable(f"{identifier}.{method}: value {_clean(raw)!r} is not one quoted string "
                             "(CTP evaluates it as false)")
    value, op, tag = raw[1:-1], METHODS[method], _tag(identifier)
    if CONTROL.search(value):
        raise Untranslatable(f"{identifier}.{method}: control character in the value")
    if value == "" and op in ("equals", "equals_ignore_case"):
        return {"tag": tag, "op": "is_blank"}
    if op == "matches":
        if not _same_regex(value):
            raise Untranslatable(f"{identifier}.matches: regex {value!r} uses Java syntax that Python "
                                 "reads differently")
        try:
            empty = re.compile(value, re.ASCII).fullmatch("") is not None
        except re.error:
            raise Untranslatable(f"{identifier}.matches: regex {value!r} is not valid in Python") from None
        if empty:
            raise Untranslatable(f"{identifier}.matches: regex {value!r} accepts an empty value, which CTP "
                                 "also reads for an absent element; scrubber's matches is false there")
    elif value == "":
        raise Untranslatable(f"{identifier}.{method}(\"\") is true even for an absent element; "
                             "scrubber's ops are false there")
    return {"tag": tag, "op": op, "value": value}


class _Parser:
    """Recursive descent over CTP's grammar: ! binds tightest, then *, then +."""

    def __init__(self, tokens: list[tuple[str, tuple[str, str, str] | None]]) -> None:
        self.tokens, self.index = tokens, 0

    def peek(self) -> str:
        return self.tokens[self.index][0] if self.index < len(self.tokens) else "end"

    def take(self) -> tuple[str, tuple[str, str, str] | None]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def condition(self) -> dict:
        result = self.expression()
        if self.peek() != "end":
            raise Untranslatable(f"unexpected {self.peek()!r} after the condition (CTP cannot parse the block)")
        return result

    def expression(self) -> dict:
        parts = [self.term()]
        while self.peek() == "+":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else {"any": parts}

    def term(self) -> dict:
        parts = [self.factor()]
        while self.peek() == "*":
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else {"all": parts}

    def factor(self) -> dict:
        kind = self.peek()
        if kind == "!":
            self.take()
            return {"not": self.factor()}
        if kind == "(":
            self.take()
            inner = self.expression()
            if self.peek() != ")":
                raise Untranslatable("unbalanced parentheses (CTP cannot parse the block)")
            self.take()
            return inner
        if kind == "operand":
            identifier, method, raw = self.take()[1]  # type: ignore[misc]
            return _leaf(identifier, method, raw)
        raise Untranslatable(f"expected an operand, got {kind!r} (CTP cannot parse the block)")


def parse_condition(script: str) -> dict:
    """A CTP condition as scrubber's condition table; Untranslatable says why it cannot be."""
    return _Parser(tokenize(script)).condition()


def parse_regions(texts: tuple[str, ...]) -> list[list[int]]:
    regions = []
    for text in texts:
        numbers = REGION_NUMBERS.fullmatch(text)
        if not numbers:
            raise Untranslatable(f"region ({_clean(text)}) is not four integers")
        x, y, width, height = (int(n) for n in numbers.groups())
        if width <= 0 or height <= 0:
            raise Untranslatable(f"region ({_clean(text)}) has no area")
        regions.append([x, y, width, height])
    if not regions:
        raise Untranslatable("no regions follow the condition (in CTP it matches and blanks nothing)")
    return regions


def _leaves(condition: dict) -> Iterator[dict]:
    """Leaves in order, not those under a ``not`` (a name should say what a rule is for)."""
    if "tag" in condition:
        yield condition
    for key in ("all", "any"):
        for part in condition.get(key, ()):
            yield from _leaves(part)


def rule_name(number: int, condition: dict) -> str:
    """``ctp-NNN-`` (the block's place in the script) and a slug of modality, maker, model, size."""
    leaves = [leaf for leaf in _leaves(condition) if "value" in leaf]
    words: list[str] = []
    for leaf in leaves:
        if leaf["tag"] in SLUG_TAGS and leaf["value"] not in words:
            words.append(leaf["value"])
    size = {leaf["tag"]: leaf["value"] for leaf in leaves
            if leaf["op"] == "equals" and leaf["value"].isdigit()
            and leaf["tag"] in SIZE_TAGS}
    rows, columns = size.get("Rows", size.get("(0028,0010)")), size.get("Columns", size.get("(0028,0011)"))
    if not words:
        words += [leaf["value"] for leaf in leaves if leaf["tag"] not in SIZE_TAGS][:1]
    if rows and columns:
        words.append(f"{columns}x{rows}")
    elif rows or columns:
        words.append(f"rows{rows}" if rows else f"cols{columns}")
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(words).lower()).strip("-")[:48].strip("-")
    return f"ctp-{number:03d}" + (f"-{slug}" if slug else "")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _inline(condition: dict) -> str:
    if "not" in condition:
        return f"{{ not = {_inline(condition['not'])} }}"
    for key in ("all", "any"):
        if key in condition:
            return f"{{ {key} = [{', '.join(_inline(p) for p in condition[key])}] }}"
    value = f", value = {_quote(condition['value'])}" if "value" in condition else ""
    return f"{{ tag = {_quote(condition['tag'])}, op = {_quote(condition['op'])}{value} }}"


def _when(condition: dict) -> str:
    for key in ("all", "any"):
        if key in condition:
            lines = "".join(f"    {_inline(part)},\n" for part in condition[key])
            return f"when = {{ {key} = [\n{lines}] }}"
    return f"when = {_inline(condition)}"


def render_rule(name: str, source: str, note: str, condition: dict, regions: list[list[int]]) -> str:
    lines = ["[[rule]]", f"name = {_quote(name)}", f"source = {_quote(source)}"]
    if note:
        lines.append(f"note = {_quote(note)}")
    boxes = ", ".join(f"[{', '.join(str(v) for v in region)}]" for region in regions)
    lines += [_when(condition), f"regions = [{boxes}]"]
    return "\n".join(lines) + "\n"


def convert(script: bytes, repo: str = REPO, commit: str = COMMIT, path: str = PATH) -> tuple[str, list[Skipped]]:
    """The rule file for a CTP script, and the blocks it had to skip."""
    text = script.decode("utf-8")
    sha256 = hashlib.sha256(script).hexdigest()
    rules, skipped = [], []
    for block in split_blocks(text):
        source = f"RSNA CTP DicomPixelAnonymizer.script, {repo}@{commit[:12]}, block {block.number}, line {block.line}"
        try:
            condition = parse_condition(block.script)
            regions = parse_regions(block.regions)
            name = rule_name(block.number, condition)
            rendered = render_rule(name, source, block.note, condition, regions)
            parse_rule(tomllib.loads(rendered)["rule"][0], Path(path), builtin=True)
        except (Untranslatable, ValueError) as exc:
            skipped.append(Skipped(block.number, block.line, str(exc)))
            continue
        rules.append(rendered)
    total = len(rules) + len(skipped)
    header = [
        "# Known-location rules converted from RSNA CTP's DicomPixelAnonymizer.script (its burned-in",
        "# annotation library). Generated, do not edit; regenerate or check (--check) with",
        f"#   {COMMAND}",
        "# Every rule that matches applies (CTP applies the first matching block only).",
        f"# {total} blocks: {len(rules)} imported, {len(skipped)} skipped.",
        *(f"# skipped block {s.number} (line {s.line}): {s.reason}" for s in skipped),
        "",
        "[provenance]",
        f"repo = {_quote(repo)}",
        f"commit = {_quote(commit)}",
        f"path = {_quote(path)}",
        f"sha256 = {_quote(sha256)}",
        'license = "RSNA Public License, see scrubber/rules/standard/README.md"',
        f"blocks = {total}",
        f"imported = {len(rules)}",
        f"skipped = {len(skipped)}",
    ]
    document = "\n".join(header) + "\n" + "".join("\n" + rule for rule in rules)
    tomllib.loads(document)
    return document, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scrubber.rules.import_ctp", description=__doc__.split("\n")[0])
    parser.add_argument("script", nargs="?", type=Path, default=SCRIPT, help="DicomPixelAnonymizer.script")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help="rule file to write (or check)")
    parser.add_argument("--check", action="store_true", help="fail when OUTPUT differs from a fresh conversion")
    parser.add_argument("--repo", default=REPO)
    parser.add_argument("--commit", default=COMMIT)
    parser.add_argument("--path", default=PATH, help="the script's path in the repository")
    args = parser.parse_args(argv)
    document, skipped = convert(args.script.read_bytes(), args.repo, args.commit, args.path)
    for block in skipped:
        print(f"import_ctp: skipped block {block.number} (line {block.line}): {block.reason}", file=sys.stderr)
    imported = document.count("\n[[rule]]\n")
    print(f"import_ctp: {imported + len(skipped)} blocks, {imported} imported, {len(skipped)} skipped",
          file=sys.stderr)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != document:
            print(f"import_ctp: {args.output} is stale; regenerate it with: {COMMAND}", file=sys.stderr)
            return 1
        print(f"import_ctp: {args.output} is up to date", file=sys.stderr)
        return 0
    args.output.write_text(document, encoding="utf-8")
    print(f"import_ctp: wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
