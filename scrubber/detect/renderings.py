"""Which renderings of which frames the detector looks at.

One rendering misses text: faint grey labels, text outside the display window, dark text on
light, near-black text on black. "full" shows the whole stored range and runs on every frame
(text shown in a few frames only is found in those frames); "window", "enhanced" (local contrast,
for faint labels) and "dark" (near-black text) run on a few key frames spread over a clip, where
static overlays are the same as everywhere else.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class View:
    """One image the detector looks at: a rendering of one frame."""

    frame: int
    rendering: str
    image: np.ndarray


def enhance(image: np.ndarray) -> np.ndarray:
    """Local contrast (CLAHE on grey) so that faint labels stand out as much as bright ones."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    clahe = cv2.createCLAHE(clipLimit=4.0, tileGridSize=(8, 8))
    return cv2.cvtColor(clahe.apply(grey), cv2.COLOR_GRAY2RGB)


DARK_GAIN = 8  # "dark" stretches the darkest eighth of the range over all of it


def darken(image: np.ndarray) -> np.ndarray:
    """The darkest eighth of the range stretched to the whole: text a few grey levels above black
    stands out as much as bright text. Looked at where the image has a display window (a wide
    stored range, such as 12 or 16 bits: text below the window is near-black in "full"); in an
    8-bit colour image it would mostly turn dark speckle into texture."""
    return cv2.multiply(image, np.full(image.shape, DARK_GAIN, np.uint8))  # saturates at 255


def key_frames(count: int, wanted: int) -> list[int]:
    """Up to ``wanted`` frame indices spread evenly from the first to the last frame."""
    if count <= wanted:
        return list(range(count))
    if wanted <= 1:
        return [0]
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def views(full: np.ndarray, window: np.ndarray | None, renderings: tuple[str, ...],
          extra_frames: int) -> list[View]:
    """Every (frame, rendering) image to detect on, as asked by the policy."""
    out: list[View] = []
    count = full.shape[0]
    if "full" in renderings:
        out.extend(View(i, "full", full[i]) for i in range(count))
    keys = key_frames(count, extra_frames) if "full" in renderings else list(range(count))
    if "window" in renderings and window is not None:
        out.extend(View(i, "window", window[i]) for i in keys)
    if "enhanced" in renderings:
        out.extend(View(i, "enhanced", enhance(full[i])) for i in keys)
    if "dark" in renderings and window is not None:
        out.extend(View(i, "dark", darken(full[i])) for i in keys)
    return out
