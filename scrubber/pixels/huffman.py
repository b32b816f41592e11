"""Huffman coding shared by our JPEG writers (T.81 Annex C and K.2): optimal code lengths limited
to 16 bits, canonical codes and their DHT body, and bit packing with 0xFF byte stuffing."""
from __future__ import annotations

import numpy as np

_CHUNK = 1 << 18


def code_lengths(counts: np.ndarray) -> np.ndarray:
    """Huffman code lengths (<= 16 bits) per category, as in T.81 K.2 (one code point reserved)."""
    freq = [int(c) for c in counts] + [1]  # the reserved all-ones code
    n = len(freq)
    size = [0] * n
    others = [-1] * n
    live = [i for i in range(n) if freq[i] > 0]
    while len(live) > 1:
        live.sort(key=lambda i: (freq[i], -i))
        v1, v2 = live[0], live[1]
        freq[v1] += freq[v2]
        freq[v2] = 0
        live.remove(v2)
        while True:
            size[v1] += 1
            if others[v1] < 0:
                break
            v1 = others[v1]
        others[v1] = v2
        while True:
            size[v2] += 1
            if others[v2] < 0:
                break
            v2 = others[v2]
    bits = [0] * 33
    for s in size:
        if s:
            bits[s] += 1
    for i in range(32, 16, -1):
        while bits[i] > 0:
            j = i - 2
            while bits[j] == 0:
                j -= 1
            bits[i] -= 2
            bits[i - 1] += 1
            bits[j + 1] += 2
            bits[j] -= 1
    i = 16
    while bits[i] == 0:
        i -= 1
    bits[i] -= 1  # drop the reserved code point
    order = sorted(range(n - 1), key=lambda k: (-counts[k], k) if counts[k] else (1, k))
    used = [k for k in order if counts[k] > 0]
    if sum(bits[1:17]) != len(used):
        raise ValueError("Huffman table construction went wrong")
    lengths = np.zeros(n - 1, np.int64)
    position = 0
    for length in range(1, 17):
        for _ in range(bits[length]):
            lengths[used[position]] = length
            position += 1
    return lengths


def canonical_codes(lengths: np.ndarray) -> tuple[np.ndarray, bytes]:
    """Codes per category from their lengths, and the DHT body (counts per length, then symbols)."""
    symbols = sorted((int(lengths[s]), s) for s in range(len(lengths)) if lengths[s])
    codes = np.zeros(len(lengths), np.int64)
    code, previous = 0, symbols[0][0] if symbols else 0
    for length, symbol in symbols:
        code <<= length - previous
        codes[symbol] = code
        code += 1
        previous = length
    counts = bytes(sum(1 for length, _ in symbols if length == n) for n in range(1, 17))
    return codes, counts + bytes(symbol for _, symbol in symbols)


def pack_codes(values: np.ndarray, lengths: np.ndarray) -> bytes:
    """Concatenate the low ``lengths`` bits of ``values`` (MSB first), pad with ones, stuff 0xFF."""
    lengths = lengths.astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return b""
    parts = []
    for start in range(0, len(values), _CHUNK):  # bounded memory: 64 bytes a sample per chunk
        part, sizes = values[start:start + _CHUNK], lengths[start:start + _CHUNK]
        words = (part.astype(np.uint64) << (64 - sizes).astype(np.uint64)).astype(">u8")
        bits = np.unpackbits(words.view(np.uint8).reshape(-1, 8), axis=1)
        parts.append(bits[np.arange(64)[None, :] < sizes[:, None]])
    parts.append(np.ones((-total) % 8, np.uint8))
    stream = np.concatenate(parts)
    packed = np.packbits(stream)
    ff = np.flatnonzero(packed == 0xFF)
    return np.insert(packed, ff + 1, 0).tobytes()


def segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(body) + 2).to_bytes(2, "big") + body
