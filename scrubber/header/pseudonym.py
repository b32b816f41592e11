"""Keyed, consistent replacements for identifiers.

Every replacement is an HMAC-SHA256 over the Policy's secret key, so the same input gives the same
output in every file and every worker (references between files stay intact), while nobody without
the key can map a replacement back to, or test a guess against, the original. Each function uses
its own domain prefix so that, say, a UID and a patient ID with equal text never share a digest.
"""
from __future__ import annotations

import hashlib
import hmac

from pydicom.datadict import dictionary_VR, tag_for_keyword

_UID_ROOT = "2.25."
_PSEUDONYM_HEX = 16
# VRs of at most 16 characters: "ANON" plus 12 hex digits fits them.
_SHORT_VRS = frozenset({"SH", "AE", "CS"})
_SHORT_HEX = 12
_DIGEST_HEX = 16


def _mac(key: bytes, domain: str, value: str) -> bytes:
    return hmac.new(key, f"{domain}\x00{value}".encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def uid_for(key: bytes, uid: str) -> str:
    """Return the replacement UID for ``uid``: "2.25." plus a 128-bit keyed integer (<= 44 chars).

    The 2.25 root (ITU-T X.667) needs no registered organisation root and, being a bare decimal
    integer, never has a leading zero, so the result is always a valid UID.
    """
    normalized = str(uid).strip(" \x00")
    number = int.from_bytes(_mac(key, "uid", normalized)[:16], "big")
    return f"{_UID_ROOT}{number}"


def _is_person_name(kind: str) -> bool:
    if kind == "PN":
        return True
    tag = tag_for_keyword(kind)
    if tag is None:
        return False
    try:
        return dictionary_VR(tag) == "PN"
    except KeyError:
        return False


def pseudonym(key: bytes, value: str, kind: str, vr: str = "") -> str:
    """Return a keyed pseudonym for ``value`` of attribute ``kind`` (a DICOM keyword, or "PN").

    Person names become "ANON^" + 16 upper-case hex digits (a valid PN family^given), anything
    else "ANON" + 16 hex digits, or 12 for the VRs limited to 16 characters (SH, AE, CS).
    The kind is part of the keyed input, so equal text in different attributes gives different
    pseudonyms.
    """
    text = str(value).strip()
    if _is_person_name(kind):
        text = text.rstrip("^ ")
    digits = _SHORT_HEX if vr in _SHORT_VRS else _PSEUDONYM_HEX
    code = _mac(key, f"pseudonym:{kind}", text).hex()[:digits].upper()
    return f"ANON^{code}" if _is_person_name(kind) else f"ANON{code}"


def digest(key: bytes, value: str) -> str:
    """Return 16 hex digits that name ``value`` (e.g. an instance UID) in logs without revealing it."""
    return _mac(key, "digest", str(value)).hex()[:_DIGEST_HEX]


def date_offset_days(key: bytes, patient: str) -> int:
    """Days by which one patient's dates move back: 1 to 520 whole weeks, keyed by the patient."""
    weeks = 1 + int.from_bytes(_mac(key, "date-offset", str(patient).strip()), "big") % 520
    return 7 * weeks
