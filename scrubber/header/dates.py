"""Date shifting for the Retain Longitudinal Temporal Information with Modified Dates option.

Every date of one patient moves back by the same keyed number of whole weeks, so intervals and
weekdays survive while the calendar dates do not. Times of day are kept. A value that is not a
well-formed full date cannot be shifted with certainty, so the caller removes it.
"""
from __future__ import annotations

import datetime as dt
import re

_DA = re.compile(r"^(\d{4})\.?(\d{2})\.?(\d{2})$")
_DT = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{0,6}(?:\.\d{1,6})?)([+-]\d{4})?$")


def _shift_date(year: str, month: str, day: str, days: int) -> str | None:
    try:
        moved = dt.date(int(year), int(month), int(day)) - dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{moved.year:04d}{moved.month:02d}{moved.day:02d}"


def shift_da(value: str, days: int) -> str | None:
    """YYYYMMDD (or the old YYYY.MM.DD) moved back by ``days``; None if it is not a full date."""
    match = _DA.match(value.strip(" \x00"))
    return _shift_date(*match.groups(), days) if match else None


def shift_dt(value: str, days: int) -> str | None:
    """A DT with at least a full date moved back by ``days``, time and UTC offset kept as written."""
    match = _DT.match(value.strip(" \x00"))
    if not match:
        return None
    year, month, day, rest, zone = match.groups()
    date = _shift_date(year, month, day, days)
    return None if date is None else f"{date}{rest}{zone or ''}"
