"""Lines to blank: each word padded, and between words only what stands out from the ground.

Words of one line are blanked as one line (its rows), so that what a detector skipped between them
(punctuation, a narrow glyph, a separator) goes too. Blanking the whole gap also blanks the flat
ground there, which holds nothing: over a toolbar or a form, most of a line's over-redaction. So a
gap is blanked from its first to its last pixel that differs from its row's median there by more
than the tolerance, in any frame that shows these words; a gap with no such pixel is left as it is.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .boxes import Box, line_groups, pad

TOLERANCE = 4  # stored values within this of their row's median are ground (8-bit JPEG noise on flat ground)
NARROW = 3  # a gap narrower than this (columns) is blanked whole: a median of so few values says little


def _merged(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Column spans with those that overlap or touch merged, left to right."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def marks_between(stored: np.ndarray, frames: Sequence[int], gap: Box, tolerance: int) -> tuple[int, int] | None:
    """The columns of ``gap`` from its first to its last pixel that differs from the median of its
    row (in its frame and sample) by more than ``tolerance`` in any of the ``frames`` of ``stored``
    (frames, rows, cols, samples); None when every pixel is ground. Row by row, so that the edge of a panel
    or a rule along the line is ground; what escapes is a mark as wide as the gap and flat along
    it (a dash), never a letter or digit."""
    x0, y0, x1, y1 = gap
    if x1 - x0 < NARROW:
        return x0, x1
    region = stored[list(frames), y0:y1, x0:x1, :].astype(np.int32)
    ground = np.median(region, axis=2, keepdims=True).astype(np.int32)
    marked = (np.abs(region - ground) > tolerance).any(axis=(0, 1, 3))
    columns = np.flatnonzero(marked)
    return (x0 + int(columns[0]), x0 + int(columns[-1]) + 1) if columns.size else None


def blank_lines(words: Sequence[Box], stored: np.ndarray, frames: Sequence[int], tolerance: int,
                pad_px: int, pad_frac: float) -> list[Box]:
    """The boxes that blank ``words`` (joined into lines) in the ``frames`` of ``stored`` (frames,
    rows, cols, samples): each line's rows, padded as the line is (``pad``), over each run of words
    (padded) and over the marks in each gap between runs (``marks_between``, grown by ``pad_px``)."""
    height, width = stored.shape[1:3]
    out: list[Box] = []
    for line, members in line_groups(words):
        _, top, _, bottom = pad(line, pad_px, pad_frac, width, height)
        grow = pad_px + math.ceil(pad_frac * (line[3] - line[1]))
        spans = _merged([(max(0, x0 - grow), min(width, x1 + grow)) for x0, _, x1, _ in members])
        marks = [marks_between(stored, frames, (a1, top, b0, bottom), tolerance) for (_, a1), (b0, _) in zip(spans, spans[1:])]
        spans = _merged(spans + [(max(0, m[0] - pad_px), min(width, m[1] + pad_px)) for m in marks if m])
        out.extend((a, top, b, bottom) for a, b in spans)
    return out
