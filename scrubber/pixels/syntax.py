"""The transfer syntax table (syntaxes.toml): which syntaxes we read and how each is written back."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless

from ..errors import UnsupportedSyntax


LOSSLESS_TARGETS = (str(JPEG2000Lossless), str(JPEGLSLossless), str(RLELossless))  # "lossless": write_as one of these


@dataclass(frozen=True, slots=True)
class SyntaxRule:
    uid: str
    name: str
    write_uid: str
    method: str  # same | same_near | same_rate | jpeg_dct | lossless | explicit_le
    checks: tuple[str, ...] = ()  # frame_checks run on every decoded frame
    decoder: str = "pydicom"  # who decodes the frames: pydicom's plugins, or "libjpeg-turbo" (turbo.py)


@cache
def _table() -> dict[str, SyntaxRule]:
    raw = tomllib.loads(resources.files(__package__).joinpath("syntaxes.toml").read_text())
    rules = {}
    for uid, row in raw.items():
        write_uid = {"explicit_le": str(ExplicitVRLittleEndian), "lossless": row.get("write_as")}.get(row["write"], uid)
        if row["write"] == "lossless" and write_uid not in LOSSLESS_TARGETS:
            raise ValueError(f"syntaxes.toml: {uid} is written as {write_uid}, not a lossless syntax scrubber writes")
        rules[uid] = SyntaxRule(uid=uid, name=row["name"], write_uid=write_uid, method=row["write"],
                                checks=tuple(row.get("checks", ())), decoder=row.get("decoder", "pydicom"))
    return rules


def rule_for(uid: str) -> SyntaxRule:
    """The rule for a transfer syntax; an unknown syntax is refused, never guessed."""
    try:
        return _table()[str(uid)]
    except KeyError:
        raise UnsupportedSyntax(f"transfer syntax {uid} is not supported") from None


def syntax_name(uid: str) -> str:
    """The name the table gives a transfer syntax (pydicom's for one it does not list)."""
    rule = _table().get(str(uid))
    return rule.name if rule else UID(str(uid)).name


def readable_syntaxes() -> tuple[str, ...]:
    """Every transfer syntax the table lists, i.e. every one the pipeline reads."""
    return tuple(_table())
