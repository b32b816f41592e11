"""Quantised DCT coefficients of a sequential Huffman JPEG (T.81 processes 1, 2 and 4) read and
written in Python, for the 12-bit frames that jpeglib (8-bit libjpeg builds) cannot open.

Only the entropy coding is undone and redone: the coefficients come back exactly as they were
coded, so a frame written from them unchanged decodes exactly as before. One scan (all components
interleaved, or the only component), restart intervals kept. The Huffman tables are kept when they
can code the new coefficients, and rebuilt for the frame (T.81 K.2) when they cannot (a black block
needs DC differences the old table may not have). Pure Python: about a second for a 640x480
12-bit frame, which is fine for the single frames this path exists for.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .huffman import canonical_codes, code_lengths, pack_codes, segment

SOF_SEQUENTIAL = (0xC0, 0xC1)
DHT, DQT, SOS, DRI, EOI = 0xC4, 0xDB, 0xDA, 0xDD, b"\xff\xd9"
_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # a marker other than RSTn ends the entropy-coded data
_RST = re.compile(rb"\xff[\xd0-\xd7]")


@dataclass
class Component:
    id: int
    h: int
    v: int
    quant_table: int
    dc_table: int = 0
    ac_table: int = 0


@dataclass
class Coded:
    """One frame: its marker segments up to the scan, and its coefficients per component as
    (block rows, block columns, 64) in zig-zag order."""

    segments: list[tuple[int, bytes]]  # (marker, whole segment), SOI excluded, SOS last
    precision: int
    rows: int
    cols: int
    components: list[Component]
    tables: dict[tuple[int, int], tuple[bytes, bytes]]  # (class, id) -> (16 counts, symbols)
    quant_dc: dict[int, int]  # quantisation table id -> its DC step
    restart: int
    blocks: list[np.ndarray] = field(default_factory=list)

    @property
    def mcu_shape(self) -> tuple[int, int]:
        """MCU rows and columns of the image."""
        if len(self.components) == 1:
            return math.ceil(self.rows / 8), math.ceil(self.cols / 8)
        v_max, h_max = max(c.v for c in self.components), max(c.h for c in self.components)
        return math.ceil(self.rows / (8 * v_max)), math.ceil(self.cols / (8 * h_max))

    def per_mcu(self, component: Component) -> tuple[int, int]:
        """Blocks of ``component`` in one MCU (a lone component's MCU is one block)."""
        return (1, 1) if len(self.components) == 1 else (component.v, component.h)


def marker_segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(marker, whole segment) after SOI up to and including SOS, and where the entropy-coded data
    starts; fill bytes are skipped and stand-alone markers (RSTn, TEM) kept as two bytes."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("fragment is not a JPEG stream (no SOI)")
    out: list[tuple[int, bytes]] = []
    pos = 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"JPEG marker expected at offset {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker in (0x01, 0xD8):
            out.append((marker, data[pos:pos + 2]))
            pos += 2
            continue
        end = pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        out.append((marker, data[pos:end]))
        if marker == SOS:
            return out, end
        pos = end
    raise ValueError("JPEG stream has no SOS")


def _read_dht(body: bytes, tables: dict[tuple[int, int], tuple[bytes, bytes]]) -> None:
    """The tables of one DHT segment's body (however many it holds) into ``tables``."""
    i = 0
    while i + 17 <= len(body):
        end = i + 17 + sum(body[i + 1:i + 17])
        tables[body[i] >> 4, body[i] & 15] = (bytes(body[i + 1:i + 17]), bytes(body[i + 17:end]))
        i = end


def huffman_tables(data: bytes) -> dict[tuple[int, int], tuple[bytes, bytes]]:
    """The Huffman tables a JPEG stream defines, by (class, id): counts and symbols, however they
    are split into DHT segments."""
    tables: dict[tuple[int, int], tuple[bytes, bytes]] = {}
    for marker, seg in marker_segments(bytes(data))[0]:
        if marker == DHT:
            _read_dht(seg[4:], tables)
    return tables


def _parse(data: bytes) -> tuple[Coded, int]:
    segments, start = marker_segments(data)
    frame, tables, quant_dc, restart = None, {}, {}, 0
    for marker, seg in segments:
        body = seg[4:]
        if marker in SOF_SEQUENTIAL:
            count = body[5]
            frame = (body[0], int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big"),
                     [Component(body[6 + 3 * k], body[7 + 3 * k] >> 4, body[7 + 3 * k] & 15, body[8 + 3 * k])
                      for k in range(count)])
        elif 0xC2 <= marker <= 0xCF and marker not in (DHT, 0xC8, 0xCC):
            raise ValueError(f"JPEG process with SOF{marker - 0xC0} is not supported (sequential Huffman only)")
        elif marker == DHT:
            _read_dht(body, tables)
        elif marker == DQT:
            i = 0
            while i < len(body):
                wide, table = body[i] >> 4, body[i] & 15
                quant_dc[table] = int.from_bytes(body[i + 1:i + 2 + wide], "big")
                i += 1 + 64 * (1 + wide)
        elif marker == DRI:
            restart = int.from_bytes(body[:2], "big")
    if frame is None:
        raise ValueError("JPEG stream has no sequential frame header")
    precision, rows, cols, components = frame
    sos = segments[-1][1][4:]
    by_id = {c.id: c for c in components}
    if sos[0] != len(components) or {sos[1 + 2 * k] for k in range(sos[0])} != set(by_id):
        raise ValueError("JPEG scans that code the components separately are not supported")
    for k in range(sos[0]):
        component = by_id[sos[1 + 2 * k]]
        component.dc_table, component.ac_table = sos[2 + 2 * k] >> 4, sos[2 + 2 * k] & 15
    order = [by_id[sos[1 + 2 * k]] for k in range(sos[0])]
    if any(c.quant_table not in quant_dc for c in components):
        raise ValueError("JPEG frame uses a quantisation table that is not defined")
    return Coded(segments, precision, rows, cols, order, tables, quant_dc, restart), start


def _lookup(counts: bytes, symbols: bytes) -> tuple[list[int], list[int]]:
    """Symbol and code length for every 16-bit window starting with a code (0 length: no code)."""
    length = np.zeros(1 << 16, np.int64)
    symbol = np.zeros(1 << 16, np.int64)
    if len(symbols) != sum(counts):
        raise ValueError("JPEG Huffman table lists another number of symbols than its counts")
    code, index = 0, 0
    for bits, count in enumerate(counts, start=1):
        for _ in range(count):
            if code + 1 > 1 << bits:
                raise ValueError("JPEG Huffman table has more codes than its lengths allow")
            low, high = code << (16 - bits), (code + 1) << (16 - bits)
            length[low:high], symbol[low:high] = bits, symbols[index]
            code, index = code + 1, index + 1
        code <<= 1
    return symbol.tolist(), length.tolist()


def _windows(data: bytes) -> list[int]:
    """For each bit position of ``data``, the 16 bits from there on (padded with ones)."""
    bits = np.unpackbits(np.frombuffer(data, np.uint8)).astype(np.int64)
    bits = np.concatenate([bits, np.ones(32, np.int64)])
    window = np.zeros(len(bits) - 16, np.int64)
    for k in range(16):
        window = (window << 1) | bits[k:k + len(window)]
    return window.tolist()


def _extend(value: int, size: int) -> int:
    return value - (1 << size) + 1 if value < 1 << (size - 1) else value


def read(data: bytes) -> Coded:
    """Parse one frame and decode its coefficients (ValueError for what this module cannot read)."""
    try:
        return _read(bytes(data))
    except (IndexError, KeyError) as exc:  # a segment shorter than its fields: a damaged stream
        raise ValueError(f"JPEG stream is damaged ({type(exc).__name__})") from None


def _read(data: bytes) -> Coded:
    coded, start = _parse(data)
    end = _END.search(data, start)
    if end is None or data[end.start():end.start() + 2] not in (EOI, b"\xff\xff"):
        raise ValueError("JPEG entropy-coded data is not followed by EOI (a second scan?)")
    pieces = [p.replace(b"\xff\x00", b"\xff") for p in _RST.split(data[start:end.start()])]
    mcu_rows, mcu_cols = coded.mcu_shape
    total = mcu_rows * mcu_cols
    per = coded.restart or total
    if len(pieces) != math.ceil(total / per):
        raise ValueError("JPEG restart markers do not match the restart interval")
    try:
        dc = {c.id: _lookup(*coded.tables[0, c.dc_table]) for c in coded.components}
        ac = {c.id: _lookup(*coded.tables[1, c.ac_table]) for c in coded.components}
    except KeyError:
        raise ValueError("JPEG scan uses a Huffman table that is not defined") from None
    layout = [(c, *coded.per_mcu(c)) for c in coded.components]
    coded.blocks = [np.zeros((mcu_rows * v, mcu_cols * h, 64), np.int32) for c, v, h in layout]
    try:
        for piece_index, piece in enumerate(pieces):
            _decode_interval(coded, layout, dc, ac, piece, piece_index * per, min(total, (piece_index + 1) * per))
    except IndexError:
        raise ValueError("JPEG entropy-coded data ends before its last block") from None
    return coded


def _decode_interval(coded: Coded, layout: list, dc: dict, ac: dict, piece: bytes, first: int, stop: int) -> None:
    """Decode MCUs ``first``..``stop`` (one restart interval, unstuffed bytes) into ``coded.blocks``."""
    _, mcu_cols = coded.mcu_shape
    window, pos = _windows(piece), 0
    predictions = [0] * len(layout)
    for mcu in range(first, stop):
        my, mx = divmod(mcu, mcu_cols)
        for index, (component, v, h) in enumerate(layout):
            dc_symbol, dc_length = dc[component.id]
            ac_symbol, ac_length = ac[component.id]
            for by in range(v):
                for bx in range(h):
                    block = [0] * 64
                    w = window[pos]
                    size, step = dc_symbol[w], dc_length[w]
                    if not step:
                        raise ValueError("JPEG entropy-coded data holds an undefined DC code")
                    pos += step
                    if size:
                        predictions[index] += _extend(window[pos] >> (16 - size), size)
                        pos += size
                    block[0] = predictions[index]
                    k = 1
                    while k < 64:
                        w = window[pos]
                        rs, step = ac_symbol[w], ac_length[w]
                        if not step:
                            raise ValueError("JPEG entropy-coded data holds an undefined AC code")
                        pos += step
                        run, size = rs >> 4, rs & 15
                        if not size:
                            if run != 15:
                                break
                            k += 16
                            continue
                        k += run
                        if k > 63:
                            raise ValueError("JPEG block has more than 64 coefficients")
                        block[k] = _extend(window[pos] >> (16 - size), size)
                        pos += size
                        k += 1
                    coded.blocks[index][my * v + by, mx * h + bx] = block
    if pos > 8 * len(piece):
        raise ValueError("JPEG entropy-coded data ends before its last block")


Symbol = tuple[tuple[int, int], int, int, int]  # (table class and id, symbol, extra bits, their count)


def _block_symbols(coded: Coded) -> Iterator[tuple[int, int, int, int, list[Symbol]]]:
    """(restart interval, component index, block row, block column, its symbols) in coding order."""
    mcu_rows, mcu_cols = coded.mcu_shape
    total = mcu_rows * mcu_cols
    per = coded.restart or total
    layout = [(c, *coded.per_mcu(c)) for c in coded.components]
    for first in range(0, total, per):
        predictions = [0] * len(layout)
        for mcu in range(first, min(total, first + per)):
            my, mx = divmod(mcu, mcu_cols)
            for index, (component, v, h) in enumerate(layout):
                for by in range(my * v, my * v + v):
                    for bx in range(mx * h, mx * h + h):
                        block = coded.blocks[index][by, bx].tolist()
                        diff, predictions[index] = block[0] - predictions[index], block[0]
                        size = abs(diff).bit_length()
                        items = [((0, component.dc_table), size, diff if diff >= 0 else diff - 1, size)]
                        run = 0
                        last = max((k for k in range(1, 64) if block[k]), default=0)
                        for k in range(1, last + 1):
                            value = block[k]
                            if not value:
                                run += 1
                                continue
                            while run > 15:
                                items.append(((1, component.ac_table), 0xF0, 0, 0))
                                run -= 16
                            size = abs(value).bit_length()
                            items.append(((1, component.ac_table), run << 4 | size,
                                          value if value >= 0 else value - 1, size))
                            run = 0
                        if last < 63:
                            items.append(((1, component.ac_table), 0x00, 0, 0))
                        yield first // per, index, by, bx, items


def _symbols(coded: Coded) -> list[list[Symbol]]:
    """Per restart interval, its symbols in coding order."""
    out: list[list[Symbol]] = []
    for interval, _, _, _, items in _block_symbols(coded):
        if interval == len(out):
            out.append([])
        out[interval].extend(items)
    return out


def block_bits(coded: Coded) -> list[np.ndarray]:
    """Bits each block takes in the entropy-coded data, per component (block rows, block columns),
    with the frame's own tables: where a rewrite changed a file's size, and where it did not."""
    codes = _codes(coded.tables)
    out = [np.zeros(blocks.shape[:2], np.int64) for blocks in coded.blocks]
    for _, index, by, bx, items in _block_symbols(coded):
        out[index][by, bx] = sum(codes[key][symbol][1] + size for key, symbol, _, size in items)
    return out


def _codes(tables: dict[tuple[int, int], tuple[bytes, bytes]]) -> dict[tuple[int, int], dict[int, tuple[int, int]]]:
    """Code and length of every symbol of every table, assigned in the table's own symbol order
    (T.81 C.2: codes count up within a length, in the order the DHT lists the symbols)."""
    out = {}
    for key, (counts, symbols) in tables.items():
        table, code, index = {}, 0, 0
        for bits, count in enumerate(counts, start=1):
            for _ in range(count):
                table[symbols[index]] = (code, bits)
                code, index = code + 1, index + 1
            code <<= 1
        out[key] = table
    return out


def write(coded: Coded) -> bytes:
    """The frame with its current coefficients: its own Huffman tables where they can code them,
    else tables built for this frame (its DHT segments replaced by one new one)."""
    intervals = _symbols(coded)
    used: dict[tuple[int, int], set[int]] = {}
    for items in intervals:
        for key, symbol, _, _ in items:
            used.setdefault(key, set()).add(symbol)
    codes = _codes(coded.tables)
    segments = coded.segments
    if any(key not in codes or not symbols <= codes[key].keys() for key, symbols in used.items()):
        counts: dict[tuple[int, int], np.ndarray] = {key: np.zeros(256, np.int64) for key in used}
        for items in intervals:
            for key, symbol, _, _ in items:
                counts[key][symbol] += 1
        body = b""
        coded.tables = {}
        for (kind, table), count in sorted(counts.items()):
            _, dht = canonical_codes(code_lengths(count))
            body += bytes((kind << 4 | table,)) + dht
            coded.tables[kind, table] = (dht[:16], dht[16:])
        codes = _codes(coded.tables)
        segments = [(m, s) for m, s in segments if m != DHT]
        segments.insert(len(segments) - 1, (DHT, segment(DHT, body)))
    scan = b""
    for index, items in enumerate(intervals):
        values = np.array([codes[key][symbol][0] << size | (extra & ((1 << size) - 1))
                           for key, symbol, extra, size in items], np.int64)
        lengths = np.array([codes[key][symbol][1] + size for key, symbol, _, size in items], np.int64)
        if index:
            scan += bytes((0xFF, 0xD0 + (index - 1) % 8))
        scan += pack_codes(values, lengths)
    return b"\xff\xd8" + b"".join(s for _, s in segments) + scan + EOI
