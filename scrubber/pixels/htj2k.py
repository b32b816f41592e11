"""HTJ2K frames encoded like the frame they replace (OpenJPH, through imagecodecs).

pydicom reads HTJ2K (OpenJPEG) but cannot write it; OpenJPH can. A new frame takes the replaced
frame's coding style (``j2k_codestream.CodingStyle``): wavelet, colour transform, decomposition
levels, tiles, TLM markers and tile-parts by resolution, and must come out with the same
progression order (OpenJPH writes RPCL, which HTJ2K Lossless RPCL requires). A lossy (9/7) frame
is coded with the quantisation step that brings it to the replaced fragment's size, so the file
keeps its rate; the caller checks it against the lossy bounds. OpenJPH codes a sample at the
width of its array (8 or 16 bits), so a frame of another precision (12-bit, say) is refused
rather than written with a precision that disagrees with Bits Stored.
"""
from __future__ import annotations

import math

import imagecodecs
import numpy as np

from ..errors import EncodeFailed
from .j2k_codestream import CodingStyle, coding_style

STEP_RANGE = (1e-4, 1.0)  # OpenJPH's base quantisation step: finest to coarsest we try
STEP_TRIES = 12  # bisection steps (in log space) towards the target size
WARM = 2.0  # after a first frame, the step is looked for within this factor of the previous one
WARM_TRIES = 6


def _encode(frame: np.ndarray, style: CodingStyle, step: float | None) -> bytes:
    try:
        return bytes(imagecodecs.htj2k_encode(
            frame, step, reversible=style.reversible, rgb=style.mct and frame.ndim == 3,
            planar=False, resolutions=style.levels, tlm=style.tlm,
            tilepart=1 if style.tile_parts > 1 else None, tile=style.tile if style.tiled else None))
    except (imagecodecs.Htj2kError, ValueError) as exc:
        raise EncodeFailed(f"HTJ2K encoding failed ({type(exc).__name__})") from None


def _check_like(data: bytes, style: CodingStyle) -> None:
    """The new codestream must be coded the way the replaced one was."""
    new = coding_style(data)
    for field in ("order", "reversible", "mct", "levels", "precision", "signed", "tile", "tlm"):
        if getattr(new, field) != getattr(style, field):
            raise EncodeFailed(f"HTJ2K frame would change its {field} "
                               f"({getattr(style, field)} -> {getattr(new, field)})")


class Writer:
    """Encodes the frames of one file; a lossy frame's search for its quantisation step starts from
    the step the previous frame needed (frames of a clip need about the same), so a clip costs a
    few encodes a frame instead of STEP_TRIES."""

    def __init__(self) -> None:
        self.last_step: float | None = None

    def encode_like(self, frame: np.ndarray, original: bytes, size: float | None = None) -> bytes:
        """Encode ``frame`` (rows, cols[, samples]) as ``original`` was coded.

        Reversible: lossless. Irreversible: at most ``size`` bytes (the original's size when None),
        as finely quantised as that allows.
        """
        try:
            style = coding_style(original)
        except ValueError as exc:
            raise EncodeFailed(f"the HTJ2K frame cannot be read ({exc})") from None
        if style.precision != frame.dtype.itemsize * 8:
            raise EncodeFailed(f"HTJ2K {style.precision}-bit samples cannot be written "
                               f"(OpenJPH writes {frame.dtype.itemsize * 8})")
        if style.reversible:
            data = _encode(frame, style, None)
        else:
            data = self._sized(frame, style, size or len(original))
        _check_like(data, style)
        return data

    def _sized(self, frame: np.ndarray, style: CodingStyle, target: float) -> bytes:
        """The finest quantisation step whose codestream fits ``target`` bytes (the coarsest if none):
        bisection in log space, over the whole range or, after a first frame, within WARM of its step."""
        low, high = (math.log(step) for step in STEP_RANGE)
        tries = STEP_TRIES
        if self.last_step is not None:
            low, high = max(low, math.log(self.last_step / WARM)), min(high, math.log(self.last_step * WARM))
            tries = WARM_TRIES
        best, best_step = None, None
        for _ in range(tries):
            middle = (low + high) / 2
            data = _encode(frame, style, math.exp(middle))
            if len(data) <= target:
                best, best_step, high = data, math.exp(middle), middle
            else:
                low = middle
        if best is None and self.last_step is not None:  # outside the warm range: search it all
            self.last_step = None
            return self._sized(frame, style, target)
        self.last_step = best_step
        return best if best is not None else _encode(frame, style, STEP_RANGE[1])


def encode_like(frame: np.ndarray, original: bytes, size: float | None = None) -> bytes:
    """One frame encoded as ``original`` was coded (``Writer.encode_like`` without a previous frame)."""
    return Writer().encode_like(frame, original, size)
