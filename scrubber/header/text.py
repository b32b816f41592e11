"""Cleaning free text for the C action (Clean Descriptors, Clean Structured Content options).

A description is kept after removing what identifies: the identifying values found elsewhere in
the same header (names, IDs, institution), anything shaped like a date, a time, a long number, an
e-mail address or a telephone number. Each removed span becomes "*". What cannot be recognised
this way (a name that appears nowhere else in the header) stays: that is the risk the user takes
by choosing the option, and why it is off by default.
"""
from __future__ import annotations

import re
from typing import Iterable

_PATTERNS = (
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # e-mail
    re.compile(r"\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b"),  # 2024-01-31, 31/01/24, 1.2.2024
    re.compile(r"\b(?:19|20)\d{6}\b"),  # 20240131
    re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b"),  # 14:05, 14:05:33
    re.compile(r"\+?\d[\d ()-]{6,}\d"),  # telephone numbers, long ID numbers
    re.compile(r"\b\d{5,}\b"),  # any run of five digits or more
)
_MIN_TOKEN = 3


def identifying_tokens(values: Iterable[str]) -> frozenset[str]:
    """Upper-cased words (at least 3 characters) and whole values to look for in free text."""
    tokens: set[str] = set()
    for value in values:
        text = str(value).strip(" \x00").upper()
        if len(text) >= _MIN_TOKEN:
            tokens.add(text)
        tokens.update(w for w in re.split(r"[\s^=,;:/\\]+", text) if len(w) >= _MIN_TOKEN)
    return frozenset(tokens)


def clean_text(text: str, tokens: frozenset[str]) -> str:
    """Return ``text`` with identifying spans replaced by "*"."""
    cleaned = str(text)
    for token in sorted(tokens, key=len, reverse=True):
        cleaned = re.sub(rf"(?<!\w){re.escape(token)}(?!\w)", "*", cleaned, flags=re.IGNORECASE)
    for pattern in _PATTERNS:
        cleaned = pattern.sub("*", cleaned)
    return cleaned
