"""Checks that each compressed frame is whole and means what our decoder says it means.

pydicom decodes a cut or damaged codestream without a word: libjpeg fills what it could not read,
and another decoder (libjpeg-turbo, which most viewers use) may fill it otherwise or read on past
the damage, showing pixels our detector never saw. A frame that is kept byte for byte would then
carry them to the output. So a frame must end in its end marker, and a JPEG frame (lossy or
lossless) must decode the same in libjpeg-turbo; a file that fails either is refused
(decode_failed). Which checks a syntax gets is a column of syntaxes.toml.
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


CHECKS: dict[str, Callable[[list[bytes], Dataset, np.ndarray, str], None]] = {
    "end_marker": end_marker, "second_decoder": second_decoder}


def run(names: Sequence[str], ds: Dataset, stored: np.ndarray, photometric: str) -> None:
    """The named checks, in order, on the frames' codestreams (split out of Pixel Data once); the
    first failure raises DecodeFailed."""
    if not names:
        return
    fragments = list(generate_frames(ds.PixelData, number_of_frames=len(stored)))
    for name in names:
        CHECKS[name](fragments, ds, stored, photometric)
