"""The header action table, read from actions.toml.

The table is data so that the full PS3.15 Table E.1-1 can replace it without code changes. It is
checked strictly when loaded: an unknown keyword or action code is a packaging error, and a wrong
table must stop every run rather than let an attribute through unnoticed.
"""
from __future__ import annotations

import enum
import tomllib
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from pydicom.datadict import dictionary_VR, tag_for_keyword

TABLE_PATH = Path(__file__).with_name("actions.toml")


class Action(str, enum.Enum):
    """Annex E action codes (PS3.15 E.3.1)."""

    REMOVE = "X"
    EMPTY = "Z"
    DUMMY = "D"
    KEEP = "K"
    UID = "U"
    CLEAN = "C"


def parse_table(text: str) -> Mapping[int, Action]:
    """Return {tag: Action} from the TOML text of an action table; raise ValueError on any doubt."""
    data = tomllib.loads(text)
    table: dict[int, Action] = {}
    for section, entries in data.items():
        if not isinstance(entries, dict):
            raise ValueError(f"action table: top-level entry {section!r} is not a section")
        for keyword, code in entries.items():
            tag = tag_for_keyword(keyword)
            if tag is None:
                raise ValueError(f"action table: unknown keyword {keyword!r} in [{section}]")
            try:
                action = Action(code)
            except ValueError:
                raise ValueError(f"action table: bad action {code!r} for {keyword}") from None
            if action is Action.UID and dictionary_VR(tag) != "UI":
                raise ValueError(f"action table: U given for {keyword}, which is not a UID")
            if tag in table:
                raise ValueError(f"action table: {keyword} is listed twice")
            table[tag] = action
    return MappingProxyType(table)


@lru_cache(maxsize=None)
def load_table(path: Path = TABLE_PATH) -> Mapping[int, Action]:
    """Return the action table shipped with the package (read once per process)."""
    return parse_table(path.read_text(encoding="utf-8"))
