"""Find text in the renderings of every frame: a single image (``single``), a later image of a
layout seen before (``series``), a clip (``clip``) or pages (each a single image), each choosing
where OCR looks (``looks``) and what a first look left unread (``unread``)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..policy import Policy
from .boxes import Box, Detection
from .clip import clip_frames
from .layouts import Reference
from .registry import Detector
from .scanned import enlarged, reduced
from .series import later_image
from .single import single_images

PAGES_BYTES = 1 << 26  # RGB frames of pages read together (``_pages``): 46 pages of 800x600, 2 of 3300x2550


def find_text(full: np.ndarray, window: np.ndarray | None, policy: Policy, detector: Detector,
              image_regions: Sequence[Box] = (), reference: Reference | None = None,
              grey: np.ndarray | None = None, pages: bool = False, scale: float = 1.0) -> list[list[Detection]]:
    """Detections per frame, from every rendering the policy asks for plus the closer looks.

    ``image_regions`` (ultrasound calibration) tell a clip where its moving image is: text that
    appears there in some frames only is found in the key frame or by the proposer, not looked
    for frame by frame; in a series they are the area that changes from image to image.
    ``reference`` is an image of the same layout seen before: a single image
    is then compared with it instead of getting the full OCR pass. ``full`` may be any array-like
    of RGB frames indexed by frame (a lazy rendering); ``grey``, when given, is its luminance.
    ``pages`` (``pages.read_as_pages``): each frame is read as a single image is, every rendering on each.
    ``scale`` (``scanned.reading_scale``): a single image or pages are read at that size (not
    compared with a ``reference`` of full size), and their boxes scaled back.
    """
    if pages or scale != 1.0 and full.shape[0] == 1:
        return _pages(full, window, policy, detector, scale)
    if full.shape[0] == 1 and reference is not None and reference.image.shape == full[0].shape:
        return [later_image(reference, full[0], None if window is None else window[0], policy, detector,
                            image_regions)]
    if full.shape[0] == 1 or "full" not in policy.renderings:
        return single_images(full, window, policy, detector)
    return clip_frames(full, window, policy, detector, image_regions, grey)


def _pages(full: np.ndarray, window: np.ndarray | None, policy: Policy, detector: Detector,
           scale: float = 1.0) -> list[list[Detection]]:
    """Each frame read as a single image is, at ``scale``, every rendering on each: a few pages at
    a time (up to PAGES_BYTES of RGB frames; their renderings weigh several times that), whose
    passes go through the detector together, as a GPU reads them fastest (on the CPU: the same
    boxes, the same time)."""
    count, rows, columns = full.shape[:3]
    step = max(1, PAGES_BYTES // max(1, int(np.prod(full.shape[1:]) * scale * scale)))
    found: list[list[Detection]] = []
    for first in range(0, count, step):
        last = min(count, first + step)
        frames = range(first, last)
        images = np.stack([reduced(np.asarray(full[f]), scale) for f in frames])
        windows = None if window is None else np.stack([reduced(np.asarray(window[f]), scale) for f in frames])
        read = single_images(images, windows, policy.replace(extra_rendering_frames=len(frames)), detector)
        found += [enlarged(detections, scale, rows, columns) for detections in read]
    return found
