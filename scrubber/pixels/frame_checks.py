"""Checks that each compressed frame is whole and means what our decoder says it means.

pydicom decodes a cut or damaged codestream without a word: libjpeg fills what it could not read,
and another decoder (libjpeg-turbo, which most viewers use) may fill it otherwise or read on past
the damage, showing pixels our detector never saw. A frame that is kept byte for byte would then
carry them to the output. So a frame must end in its end marker, and a JPEG frame (lossy or
lossless) must decode the same in libjpeg-turbo, and an RLE frame's segments must have the
lengths its geometry asks for; a file that fails is refused (decode_failed). Which checks a syntax
gets is a column of syntaxes.toml.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from ..errors import DecodeFailed

END_MARKER = b"\xff\xd9"  # JPEG EOI, JPEG-LS EOI and JPEG 2000 EOC share it
TRAILING_FILL = b"\x00\xff"  # even-length padding and fill bytes some encoders leave after it
LEVELS = 8  # a second decoder may round the IDCT otherwise, by a level or two; damage shows far more
SHARE = 1e-4  # of a frame's pixels that may differ by more than LEVELS
TURBO_COLOUR = {"YBR_FULL": "YCBCR", "YBR_FULL_422": "YCBCR", "RGB": "RGB"}  # no colour transform


def end_marker(fragments: list[bytes], ds: Dataset, stored: np.ndarray, photometric: str) -> None:
    """Every frame's codestream ends in its end marker (a cut frame does not)."""
    count = len(stored)
    for index, frame in enumerate(fragments):
        if not frame.rstrip(TRAILING_FILL).endswith(END_MARKER):
            raise DecodeFailed(f"frame {index + 1} of {count} has no end marker (cut or damaged codestream)")


def second_decoder(fragments: list[bytes], ds: Dataset, stored: np.ndarray, photometric: str) -> None:
    """Every frame decodes in libjpeg-turbo (imagecodecs; lossless JPEG too) to the first component
    pydicom gave."""
    import imagecodecs

    count = len(stored)
    colour = TURBO_COLOUR.get(photometric)
    bits = (1 << int(ds.BitsStored)) - 1
    for index, frame in enumerate(fragments):
        try:
            other = imagecodecs.jpeg8_decode(frame, colorspace=colour, outcolorspace=colour)
        except Exception as exc:
            raise DecodeFailed(f"frame {index + 1} of {count} does not decode in libjpeg-turbo "
                               f"({type(exc).__name__})") from None
        # compared as the unsigned sample bits both decoders share (pydicom sign-extends signed data)
        first = stored[index][..., 0].astype(np.int64) & bits
        other = other.reshape(stored[index].shape)[..., 0].astype(np.int64) & bits
        if np.count_nonzero(np.abs(first - other) > LEVELS) > SHARE * first.size:
            raise DecodeFailed(f"frame {index + 1} of {count} decodes differently in libjpeg and "
                               "libjpeg-turbo (damaged JPEG data)")


def _segment_length(segment: bytes, wanted: int) -> int:
    """Bytes a PackBits segment decodes to, counted up to ``wanted`` (-1: a run reaches past the
    segment's end). What follows ``wanted`` bytes must be a single pad byte or nothing."""
    position, length, end = 0, 0, len(segment)
    while position < end and length < wanted:
        control = segment[position]
        if control < 128:  # a literal run of control + 1 bytes
            length += control + 1
            position += control + 2
        elif control > 128:  # one byte repeated 257 - control times
            length += 257 - control
            position += 2
        else:  # 128: no operation
            position += 1
    if position > end:
        return -1
    return length if end - position <= 1 else length + 1


def rle_segments(fragments: list[bytes], ds: Dataset, stored: np.ndarray, photometric: str) -> None:
    """Every RLE frame has one segment per byte of each sample, where its header says, and each
    segment decodes to exactly one byte per pixel: pydicom cuts a longer segment to size with only
    a warning, and another decoder (pylibjpeg-rle) stops on it."""
    count = len(stored)
    pixels = int(ds.Rows) * int(ds.Columns)
    wanted = int(ds.SamplesPerPixel) * int(ds.BitsAllocated) // 8
    for index, frame in enumerate(fragments):
        header = np.frombuffer(frame[:64], "<u4") if len(frame) >= 64 else np.zeros(0, "<u4")
        segments = int(header[0]) if header.size else 0
        offsets = [int(o) for o in header[1:1 + segments]] + [len(frame)]
        if (segments != wanted or offsets[0] != 64
                or any(b <= a for a, b in zip(offsets, offsets[1:]))):
            raise DecodeFailed(f"frame {index + 1} of {count} has a damaged RLE header")
        for start, stop in zip(offsets, offsets[1:]):
            if _segment_length(frame[start:stop], pixels) != pixels:
                raise DecodeFailed(f"frame {index + 1} of {count} has an RLE segment of the wrong length "
                                   "(damaged RLE data)")


CHECKS: dict[str, Callable[[list[bytes], Dataset, np.ndarray, str], None]] = {
    "end_marker": end_marker, "second_decoder": second_decoder, "rle_segments": rle_segments}


def run(names: Sequence[str], ds: Dataset, stored: np.ndarray, photometric: str) -> None:
    """The named checks, in order, on the frames' codestreams (split out of Pixel Data once); the
    first failure raises DecodeFailed."""
    if not names:
        return
    fragments = list(generate_frames(ds.PixelData, number_of_frames=len(stored)))
    for name in names:
        CHECKS[name](fragments, ds, stored, photometric)
