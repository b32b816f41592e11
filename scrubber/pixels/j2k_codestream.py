"""What a JPEG 2000 / HTJ2K codestream's main header says about how it was coded.

A frame we encode again must be coded like the one it replaces (progression order, wavelet,
colour transform, decomposition levels, tiles, TLM markers, tile-parts), so that the file keeps
what its transfer syntax promises (HTJ2K Lossless RPCL: RPCL order and TLM markers) and readers
that relied on the layout still find it. Only the markers needed for that are read (ISO/IEC
15444-1 Annex A).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

SOC, SOT, SIZ, CAP, COD, TLM = 0xFF4F, 0xFF90, 0xFF51, 0xFF50, 0xFF52, 0xFF55
ORDERS = ("LRCP", "RLCP", "RPCL", "PCRL", "CPRL")


@dataclass(frozen=True, slots=True)
class CodingStyle:
    """The main-header facts of one codestream that a replacement frame must share."""

    width: int
    height: int
    tile: tuple[int, int]  # (width, height) of a tile; the image size when untiled
    components: int
    precision: int  # bits per sample of the first component
    signed: bool
    order: str  # progression order, e.g. "RPCL"
    layers: int
    mct: bool  # multiple component transform (RCT when reversible, ICT when not)
    levels: int  # wavelet decomposition levels
    reversible: bool  # 5/3 wavelet (lossless possible); False: 9/7
    high_throughput: bool  # a CAP marker announces Part 15 (HTJ2K) code-blocks
    tlm: bool  # tile-part length markers present
    tile_parts: int  # tile-parts of the first tile

    @property
    def tiled(self) -> bool:
        return self.tile != (self.width, self.height)


def _segments(data: bytes) -> tuple[dict[int, bytes], int]:
    """Main-header marker segments (first of each kind) and where the first tile-part starts."""
    if len(data) < 4 or struct.unpack(">H", data[:2])[0] != SOC:
        raise ValueError("not a JPEG 2000 codestream (no SOC marker)")
    found: dict[int, bytes] = {}
    pos = 2
    while pos + 4 <= len(data):
        marker, length = struct.unpack(">HH", data[pos:pos + 4])
        if marker == SOT:
            return found, pos
        if marker >> 8 != 0xFF or length < 2:
            break
        found.setdefault(marker, data[pos + 4:pos + 2 + length])
        pos += 2 + length
    raise ValueError("JPEG 2000 main header ends without a tile-part")


def _tile_parts(data: bytes, start: int) -> int:
    """How many tile-parts the first tile has, walking SOT segments by their Psot lengths."""
    count, pos = 0, start
    while pos + 12 <= len(data) and struct.unpack(">H", data[pos:pos + 2])[0] == SOT:
        tile, length = struct.unpack(">HI", data[pos + 4:pos + 10])
        count += tile == 0
        if length == 0:  # the last tile-part runs to EOC
            break
        pos += length
    return count


def coding_style(data: bytes) -> CodingStyle:
    """Parse the main header; a codestream we cannot read this much of is refused (ValueError)."""
    data = bytes(data)
    segments, first_tile_part = _segments(data)
    if SIZ not in segments or COD not in segments:
        raise ValueError("JPEG 2000 main header lacks SIZ or COD")
    siz, cod = segments[SIZ], segments[COD]
    if len(siz) < 39 or len(cod) < 10:
        raise ValueError("JPEG 2000 SIZ or COD segment is truncated")
    xsiz, ysiz, xo, yo, xt, yt, xto, yto = struct.unpack(">8I", siz[2:34])
    components, ssiz = struct.unpack(">H", siz[34:36])[0], siz[36]
    order, layers, mct = cod[1], struct.unpack(">H", cod[2:4])[0], cod[4]
    if order >= len(ORDERS):
        raise ValueError(f"JPEG 2000 progression order {order} is not defined")
    return CodingStyle(
        width=xsiz - xo, height=ysiz - yo, tile=(min(xt, xsiz - xto), min(yt, ysiz - yto)),
        components=components, precision=(ssiz & 0x7F) + 1, signed=bool(ssiz & 0x80),
        order=ORDERS[order], layers=layers, mct=bool(mct), levels=cod[5],
        reversible=cod[9] == 1, high_throughput=CAP in segments, tlm=TLM in segments,
        tile_parts=_tile_parts(data, first_tile_part),
    )
