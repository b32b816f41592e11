"""Multi-frame files whose frames are pages (a scanned document, a stack of screenshots), not a clip.

Read as a clip, a page's lines join the moving image (several lines of print form a place taller
than text) and are left to the per-frame looks, and a line at the same place on half the pages or
more is blanked on every page. Pages are read as single images are, and each keeps its own
boxes. The header tells when it can: only the Secondary Capture family holds pages, and its
multi-frame classes say in Frame Increment Pointer what tells their frames apart (a page number,
or a time, a label, an angle, a slice position). A Secondary Capture file that does not say is
judged by its pixels, and two such frames are read as pages.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from ..policy import Policy

SECONDARY_CAPTURE = frozenset({
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
})
PAGE_NUMBER_VECTOR = Tag(0x0018, 0x2001)
DIFFER = 20  # grey levels by which two frames' pixels differ
PAGES = 0.4  # frames whose neighbours differ in this share of the pixels that frames further apart differ in ...
PAGE_CHANGE = 0.001  # ... and in at least this share of the pixels are pages (nearly equal frames are a clip;
# a page of a few lines of print differs from another in more)
PAIRS = 15  # neighbours compared (and as many frames further apart, at each of a few distances)


def read_as_pages(ds: Dataset, full: np.ndarray, policy: Policy, grey: np.ndarray | None = None) -> bool:
    """The frames of ``ds`` (rendered as ``full``; ``grey``, when given, its luminance) are pages:
    a Secondary Capture whose Frame Increment Pointer names the Page Number Vector, or, where it
    names nothing, one of two frames (their median, a clip's static layer, is their blend, and a
    box seen in one of two frames is a clip's static overlay, blanked in both: the sweep's pages
    two to a file kept 1138 of 1188 labels, 1184 alone) or of more frames that look like pages
    (``look_like_pages``). With a policy without the "full" rendering every frame is read whole
    anyway, as pages are."""
    count = full.shape[0]
    if count < 2 or "full" not in policy.renderings or str(ds.get("SOPClassUID", "")) not in SECONDARY_CAPTURE:
        return False
    try:
        pointer = ds.get("FrameIncrementPointer")
    except (ValueError, TypeError):  # an unreadable pointer says nothing
        pointer = None
    if pointer is not None:
        return PAGE_NUMBER_VECTOR in (pointer if isinstance(pointer, (list, MultiValue)) else [pointer])
    if count == 2:
        return True
    if grey is not None:
        return look_like_pages(grey.__getitem__, count)
    return look_like_pages(lambda f: cv2.cvtColor(np.asarray(full[f]), cv2.COLOR_RGB2GRAY), count)


def look_like_pages(grey: Callable[[int], np.ndarray], count: int) -> bool:
    """Neighbouring frames (``grey(i)``, luminance) differ by DIFFER in nearly as many pixels (PAGES)
    as frames further apart: pages are no more alike for being next to each other, while a long
    clip's neighbours are (0.20 and 0.25 of the far difference on pydicom's ultrasound clips of 30
    and 120 frames; 0.56 on emri's ten MR frames). Stacks of 3-20 of the recall sweep's pages give
    0.42-1.07 in the sweep's order (where pages alternate between two skews), 0.68-1.38 drawn at
    random. A short or sparse clip looks like pages too (color3d's first 3-30 frames: 0.23-1.0,
    every fourth frame: 0.52-1.04), which is why the header is asked first and this only of
    Secondary Capture."""
    firsts = [int(f) for f in np.unique(np.linspace(0, count - 2, min(count - 1, PAIRS)).round())]
    distances = sorted({k for k in (2, count // 3, count // 2, 2 * count // 3) if 2 <= k <= count - 2} or {2})
    near = [(f, f + 1) for f in firsts]
    apart = [(f, (f + k) % count) for f in firsts for k in distances]
    images = {i: grey(i) for pair in near + apart for i in pair}

    def differ(pairs: list[tuple[int, int]]) -> float:
        return float(np.mean([np.count_nonzero(cv2.absdiff(images[a], images[b]) > DIFFER) for a, b in pairs]))

    neighbours = differ(near)
    return neighbours >= PAGE_CHANGE * images[0].size and neighbours >= PAGES * differ(apart)
