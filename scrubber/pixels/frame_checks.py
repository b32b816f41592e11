"""Checks that each compressed frame is whole and means what our decoder says it means.

pydicom decodes a cut or damaged codestream without a word: libjpeg fills what it could not read,
and another decoder (libjpeg-turbo, which most viewers use) may fill it otherwise or read on past
the damage, showing pixels our detector never saw. A frame that is kept byte for byte would then
carry them to the output. So a frame must end in its end marker, and a JPEG frame (lossy or
lossless) must decode the same in libjpeg and libjpeg-turbo, and an RLE frame's segments must
have the lengths its geometry asks for; a file that fails is refused (decode_failed). Which checks
a syntax gets is a column of syntaxes.toml.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from ..errors import DecodeFailed, is_failure
from . import turbo

END_MARKER = b"\xff\xd9"  # JPEG EOI, JPEG-LS EOI and JPEG 2000 EOC share it
TRAILING_FILL = b"\x00\xff"  # even-length padding and fill bytes some encoders leave after it
LEVELS = 8  # a second decoder may round the IDCT otherwise, by a level or two; damage shows far more
SHARE = 1e-4  # of a frame's pixels that may differ by more than LEVELS


def end_marker(fragments: list[bytes], ds: Dataset) -> None:
    """Every frame's codestream ends in its end marker (a cut frame does not)."""
    count = len(fragments)
    for index, frame in enumerate(fragments):
        if not frame.rstrip(TRAILING_FILL).endswith(END_MARKER):
            raise DecodeFailed(f"frame {index + 1} of {count} has no end marker (cut or damaged codestream)")


def rle_segments(fragments: list[bytes], ds: Dataset) -> None:
    """Every RLE frame has one segment per byte of each sample, where its header says, and each
    segment decodes to exactly one byte per pixel. Run before the frames are decoded: pylibjpeg-rle
    aborts (a Rust panic) on a segment longer than that, and pydicom's own decoder cuts it to size
    with only a warning."""
    from rle.rle import decode_segment

    count = len(fragments)
    pixels = int(ds.Rows) * int(ds.Columns)
    wanted = int(ds.SamplesPerPixel) * int(ds.BitsAllocated) // 8
    for index, frame in enumerate(fragments):
        header = np.frombuffer(frame[:64], "<u4") if len(frame) >= 64 else np.zeros(0, "<u4")
        segments = int(header[0]) if header.size else 0
        offsets = [int(o) for o in header[1:1 + segments]] + [len(frame)]
        if segments != wanted or offsets[0] != 64 or any(b <= a for a, b in zip(offsets, offsets[1:])):
            raise DecodeFailed(f"frame {index + 1} of {count} has a damaged RLE header")
        for start, stop in zip(offsets, offsets[1:]):
            try:
                length = len(decode_segment(frame[start:stop]))
            except BaseException as exc:  # a run that reaches past the segment's end
                if not is_failure(exc):
                    raise
                length = -1
            if length != pixels:
                raise DecodeFailed(f"frame {index + 1} of {count} has an RLE segment of the wrong length "
                                   "(damaged RLE data)")


def second_decoder(fragments: list[bytes], ds: Dataset, stored: np.ndarray, photometric: str) -> None:
    """Every frame decodes in the other decoder to the first component the first gave: in
    libjpeg-turbo (imagecodecs; lossless JPEG too) what pydicom decoded, in pydicom (pylibjpeg's
    libjpeg) what libjpeg-turbo decoded (turbo.py)."""
    count = len(stored)
    if turbo.decodes_first(ds):
        name = "libjpeg"
        decoder = get_decoder(UID(str(ds.file_meta.TransferSyntaxUID)))
        others = (arr for arr, _ in decoder.iter_array(ds, raw=True))
    else:
        name = "libjpeg-turbo"
        others = (turbo.decode_frame(frame, photometric) for frame in fragments)
    bits = (1 << int(ds.BitsStored)) - 1
    for index in range(len(fragments)):
        try:
            other = next(others)
        except Exception as exc:
            raise DecodeFailed(f"frame {index + 1} of {count} does not decode in {name} "
                               f"({type(exc).__name__})") from None
        # compared as the unsigned sample bits both decoders share (pydicom sign-extends signed data)
        first = stored[index][..., 0].astype(np.int64) & bits
        other = other.reshape(stored[index].shape)[..., 0].astype(np.int64) & bits
        if np.count_nonzero(np.abs(first - other) > LEVELS) > SHARE * first.size:
            raise DecodeFailed(f"frame {index + 1} of {count} decodes differently in libjpeg and "
                               "libjpeg-turbo (damaged JPEG data)")


# on the codestreams alone, before decoding
STREAM_CHECKS: dict[str, Callable[[list[bytes], Dataset], None]] = {
    "end_marker": end_marker, "rle_segments": rle_segments}
# on the codestreams and what pydicom decoded from them
PIXEL_CHECKS: dict[str, Callable[[list[bytes], Dataset, np.ndarray, str], None]] = {
    "second_decoder": second_decoder}
CHECKS = {**STREAM_CHECKS, **PIXEL_CHECKS}


def before_decoding(names: Sequence[str], fragments: list[bytes], ds: Dataset) -> None:
    """The named stream checks, in order; the first failure raises DecodeFailed."""
    for name in names:
        if name in STREAM_CHECKS:
            STREAM_CHECKS[name](fragments, ds)


def after_decoding(names: Sequence[str], fragments: list[bytes], ds: Dataset, stored: np.ndarray,
                   photometric: str) -> None:
    """The named pixel checks, in order; the first failure raises DecodeFailed."""
    for name in names:
        if name in PIXEL_CHECKS:
            PIXEL_CHECKS[name](fragments, ds, stored, photometric)
