"""8-bit YBR_FULL to RGB by pydicom's equations: the values its ``pixel_array`` shows for a YBR
image, which a YBR JPEG written natively holds (encode) and the scorer compares it with (evaluate)."""
from __future__ import annotations

import numpy as np
from pydicom.pixels.processing import convert_color_space

YBR_FULL_SPACES = ("YBR_FULL", "YBR_FULL_422")  # what our arrays of these hold: full-resolution YBR_FULL


def ybr_to_rgb(ybr: np.ndarray) -> np.ndarray:
    """(frames, rows, cols, 3) uint8 YBR_FULL as RGB, a frame at a time (a clip in float32 is large)."""
    rgb = np.empty_like(ybr)
    for index, frame in enumerate(ybr):
        rgb[index] = convert_color_space(frame, "YBR_FULL", "RGB")
    return rgb
