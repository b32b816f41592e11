"""JPEG-LS codestream facts the encoder needs to write a frame like the ones around it."""
from __future__ import annotations

SOI, SOS = 0xD8, 0xDA


def near(codestream: bytes) -> int:
    """NEAR of the first scan: a re-encoded near-lossless frame keeps the input's error bound.

    ISO/IEC 14495-1 C.2.3: SOS is FFDA, Ls (2 bytes), Ns, Ns x (Ci, Tmi), NEAR, ILV, Ah|Al. The
    marker segments before it are walked by their lengths, never searched for.
    """
    data = bytes(codestream)
    if data[:2] != bytes((0xFF, SOI)):
        raise ValueError("not a JPEG-LS codestream (no SOI)")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("JPEG-LS marker segments are broken")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == SOS:
            components = data[pos + 4] if pos + 4 < len(data) else 0
            offset = 5 + 2 * components
            if not components or length < offset + 1 or pos + offset >= len(data):
                raise ValueError("JPEG-LS SOS segment is too short")
            return data[pos + offset]
        pos += 2 + length
    raise ValueError("JPEG-LS codestream has no scan")
