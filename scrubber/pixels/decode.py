"""Decode every frame once, to the stored values in the array's own colour space."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from ..errors import DecodeFailed, ScrubError, UnsupportedSyntax, is_failure
from . import encapsulated_native, frame_checks, turbo, video
from .syntax import rule_for
from .validate import check_decoded, check_geometry, encapsulated_frames


@dataclass(frozen=True, slots=True)
class Frames:
    """Stored pixel values of every frame, shaped (frames, rows, cols, samples).

    ``photometric`` is the colour space of ``stored`` (which may differ from the header: JPEG 2000
    RCT/ICT decode to RGB, and "YBR_FULL_422" arrays hold full-resolution YBR values).
    """

    stored: np.ndarray
    photometric: str
    bits_stored: int
    signed: bool
    unused_bits: bool = False  # native data carried bits above High Bit (cleared in ``stored``)

    @property
    def count(self) -> int:
        return int(self.stored.shape[0])


def decode(ds: Dataset, max_samples: int) -> Frames:
    """Decode ``ds`` after validating its geometry; every failure is a ScrubError."""
    tsyntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
    rule = rule_for(tsyntax)
    frames = check_geometry(ds, max_samples, encapsulated=tsyntax.is_encapsulated)
    streamed = video.decodes(ds)  # one stream over all frames: its fragments are not frames
    fragments = encapsulated_frames(ds, frames) if tsyntax.is_encapsulated and not streamed else []
    decoder = None if tsyntax == encapsulated_native.SYNTAX or streamed else _decoder(tsyntax)
    with _checks_must_run():
        frame_checks.before_decoding(rule.checks, fragments, ds)
    try:
        arr, meta = as_array(ds)
    except ScrubError:
        raise
    except BaseException as exc:  # any codec failure means we cannot trust the pixels
        if not is_failure(exc):
            raise
        raise DecodeFailed(f"pixel data could not be decoded ({type(exc).__name__})") from None
    stored = check_decoded(arr, int(ds.Rows), int(ds.Columns), frames, int(ds.SamplesPerPixel))
    photometric = str(meta.get("photometric_interpretation", ds.PhotometricInterpretation))
    with _checks_must_run():
        frame_checks.after_decoding(rule.checks, fragments, ds, stored, photometric)
    return Frames(
        stored=stored,
        photometric=photometric,
        bits_stored=int(ds.BitsStored),
        signed=bool(int(ds.PixelRepresentation)),
        unused_bits=decoder is not None and not tsyntax.is_encapsulated and _unused_bits_set(ds, decoder),
    )


@contextmanager
def _checks_must_run() -> Iterator[None]:
    """A frame check that cannot run cannot vouch for the frames either: the file is refused."""
    try:
        yield
    except ScrubError:
        raise
    except Exception as exc:
        raise DecodeFailed(f"frame checks could not run ({type(exc).__name__})") from None


def _decoder(tsyntax: UID):
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise UnsupportedSyntax(f"no decoder for transfer syntax {tsyntax}") from None
    if not decoder.is_available:
        raise UnsupportedSyntax(f"decoder plugins for {tsyntax.name} are not installed")
    return decoder


def as_array(ds: Dataset) -> tuple[np.ndarray, dict]:
    """Every frame's stored values and the decoder's metadata (pydicom's ``as_array(raw=True)``,
    libjpeg-turbo's where the syntax table names it, or ours for the syntax pydicom cannot decode)."""
    own = _own_decoder(ds)
    if own is not None:
        return own.as_array(ds)
    tsyntax = UID(str(ds.file_meta.TransferSyntaxUID))
    return get_decoder(tsyntax).as_array(ds, raw=True, **({"view_only": True} if _viewable(ds, tsyntax) else {}))


def _own_decoder(ds: Dataset) -> ModuleType | None:
    """The module of ours that decodes ``ds`` (each has ``as_array`` and ``iter_frames``): for the
    syntax pydicom cannot decode, video, or libjpeg-turbo where the syntax table names it; None
    where pydicom's plugins do."""
    if UID(str(ds.file_meta.TransferSyntaxUID)) == encapsulated_native.SYNTAX:
        return encapsulated_native
    if video.decodes(ds):
        return video
    return turbo if turbo.decodes_first(ds) else None


def _viewable(ds: Dataset, tsyntax: UID) -> bool:
    """Native little-endian frames that pydicom can hand over as a read-only view of the Pixel
    Data (whole bytes, no unused bits to clear, no 4:2:2 to expand): a copy would hold a long
    native clip twice while it is redacted and written (the redaction is a copy anyway)."""
    bits = int(ds.get("BitsAllocated", 0) or 0)
    return (not tsyntax.is_encapsulated and tsyntax.is_little_endian and bits in (8, 16, 32, 64)
            and bits == int(ds.get("BitsStored", 0) or 0)
            and str(ds.get("PhotometricInterpretation", "")) != "YBR_FULL_422")


def iter_frames(ds: Dataset) -> Iterator[np.ndarray]:
    """The stored values a frame at a time, by the decoder ``as_array`` would use: checking what
    was written then holds one frame of it, not a second copy of a long clip."""
    own = _own_decoder(ds)
    if own is not None:
        yield from own.iter_frames(ds)
        return
    for frame, _ in get_decoder(UID(str(ds.file_meta.TransferSyntaxUID))).iter_array(ds, raw=True):
        yield frame


def _unused_bits_set(ds: Dataset, decoder) -> bool:
    """True when native Pixel Data has bits above High Bit that are not sign extension.

    Old files keep overlay planes (burned-in annotations) there; pydicom clears them on decode,
    so a file holding them must be rewritten even when no text box was found.
    """
    allocated, stored = int(ds.BitsAllocated), int(ds.BitsStored)
    if stored >= allocated or allocated == 1:
        return False
    raw, _ = decoder.as_array(ds, raw=True, correct_unused_bits=False)
    raw = raw.astype(raw.dtype.newbyteorder("="), copy=False)
    values = raw.view(f"u{raw.dtype.itemsize}")
    high = values >> stored
    if not int(ds.PixelRepresentation):
        return bool(high.any())
    extension = (1 << (allocated - stored)) - 1
    negative = ((values >> (stored - 1)) & 1).astype(bool)
    return bool(np.any((high != 0) & ~((high == extension) & negative)))
