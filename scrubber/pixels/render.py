"""Display renderings (8-bit RGB) of decoded frames, for the detector and for QA pictures.

The detector never sees stored values: it sees what a viewer would show, LUTs applied. Two
renderings are made here: "full" (the whole stored range stretched, so text outside any window
still shows) and "window" (the header's VOI transform, the way a reading workstation shows it).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import cv2
import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from ..errors import DecodeFailed, InconsistentImage
from .decode import Frames
from .palette import palette_rgb

YBR_SPACES = ("YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_420")
LAZY_BYTES = 128 << 20  # RGB frames a LazyYbr keeps, the most recently asked for (120 of 640x480: all)


def _stretch(values: np.ndarray) -> np.ndarray:
    """Linear map of the data range onto 0..255."""
    values = values.astype(np.float32, copy=False)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(values.shape, np.uint8)
    return np.clip((values - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)


def _ybr_to_rgb(ybr: np.ndarray) -> np.ndarray:
    """YBR_FULL (uint8) to RGB with OpenCV (the same full-range BT.601 equations as pydicom, within
    1 level, several times faster on long clips). OpenCV takes Y, Cr, Cb: mixChannels reorders a
    frame in 0.3 ms where numpy's ``frame[..., [0, 2, 1]]`` takes 3."""
    out = np.empty_like(ybr)
    ycrcb = np.empty(ybr.shape[1:], ybr.dtype)
    for index, frame in enumerate(ybr):
        cv2.mixChannels([np.ascontiguousarray(frame)], [ycrcb], [0, 0, 1, 2, 2, 1])
        out[index] = cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
    return out


class LazyYbr:
    """8-bit YBR frames rendered to RGB one at a time, when asked for (a clip's detector looks at
    a few frames in colour and at every frame in grey, which for YBR is the stored Y itself). The
    frames asked for last are kept, up to LAZY_BYTES: a long clip is not held a second time."""

    def __init__(self, ybr: np.ndarray) -> None:
        self._ybr = ybr
        self._rgb: OrderedDict[int, np.ndarray] = OrderedDict()
        self.shape = ybr.shape[:3] + (3,)
        self._keep = max(2, LAZY_BYTES // max(1, ybr[0].nbytes))  # a long clip's RGB would double its size
        self.grey = np.ascontiguousarray(ybr[..., 0])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int | list[int]) -> np.ndarray:
        if not isinstance(index, (int, np.integer)):
            return np.stack([self[int(i)] for i in index])
        index = int(index) % self.shape[0]
        if index in self._rgb:
            self._rgb.move_to_end(index)
        else:
            self._rgb[index] = _ybr_to_rgb(self._ybr[index:index + 1])[0]
            if len(self._rgb) > self._keep:
                self._rgb.popitem(last=False)
        return self._rgb[index]


def for_detection(frames: Frames, ds: Dataset) -> np.ndarray | LazyYbr:
    """The "full" rendering as the detector needs it: clips of 8-bit YBR (JPEG ultrasound) are
    rendered lazily, everything else at once as ``full`` does."""
    if frames.photometric in YBR_SPACES and frames.bits_stored <= 8 and frames.count > 1:
        return LazyYbr(frames.stored.astype(np.uint8, copy=False))
    return full(frames, ds)


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1)


def _check_palette_shows(stored: np.ndarray, shown: np.ndarray) -> None:
    """Refuse a palette that shows stored values that differ as one flat colour: what OCR would
    read is then not what a viewer shows (a big-endian palette read byte-swapped rendered black,
    its text invisible), and nothing in it can be judged free of text."""
    if shown.min() == shown.max() and stored.min() != stored.max():
        raise InconsistentImage("palette shows the whole image as one flat colour")


def _palette_shown(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """Palette colour frames as uint8 RGB (the top 8 bits of 16-bit entries)."""
    rgb = palette_rgb(stored[..., 0], ds)
    return (rgb >> 8).astype(np.uint8) if rgb.dtype.itemsize > 1 else rgb.astype(np.uint8)


def _colour(convert: Callable[[], np.ndarray]) -> np.ndarray:
    """``convert()``, its failure (a bad LUT, a header pydicom cannot apply) one DecodeFailed."""
    try:
        return convert()
    except Exception as exc:
        raise DecodeFailed(f"colour rendering failed ({type(exc).__name__})") from None


def full(frames: Frames, ds: Dataset) -> np.ndarray:
    """Every frame as uint8 RGB (frames, rows, cols, 3), the full stored range visible."""
    arr = frames.stored
    pi = frames.photometric
    if pi == "PALETTE COLOR":
        shown = _colour(lambda: _palette_shown(arr, ds))
        _check_palette_shows(arr, shown)
        return shown
    if pi in YBR_SPACES:
        if frames.bits_stored > 8:  # pydicom converts 8-bit YBR only: keep the top 8 bits
            arr = arr >> (frames.bits_stored - 8)
        return _colour(lambda: _ybr_to_rgb(arr.astype(np.uint8)))
    if pi == "RGB":
        return arr.astype(np.uint8) if arr.dtype.itemsize == 1 else _stretch(arr)
    grey = _stretch(arr[..., 0])
    if pi == "MONOCHROME1":
        grey = 255 - grey
    return _grey_to_rgb(grey)


def window(frames: Frames, ds: Dataset) -> np.ndarray | None:
    """The header's VOI rendering of a greyscale image, or None when it has none (or it is unusable)."""
    if frames.photometric not in ("MONOCHROME1", "MONOCHROME2"):
        return None
    if "WindowCenter" not in ds and "VOILUTSequence" not in ds:
        return None
    try:
        values = apply_voi_lut(apply_modality_lut(frames.stored[..., 0], ds), ds)
    except Exception:
        return None
    grey = _stretch(values)
    if frames.photometric == "MONOCHROME1":
        grey = 255 - grey
    return _grey_to_rgb(grey)
