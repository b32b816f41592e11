"""One detector per process, built on first use and kept (model loading costs seconds)."""
from __future__ import annotations

import threading
from collections.abc import Callable

from ..policy import Policy
from .boxes import Box

# images (uint8 RGB) in, boxes per image out; keyword ``magnify`` asks for a closer look
Detector = Callable[..., list[list[Box]]]

_cache: dict[tuple, Detector] = {}
_lock = threading.Lock()


def detector_for(policy: Policy, threads: int = 0) -> Detector:
    """The CRAFT detector for this policy's device and thresholds, loaded once per process."""
    from .ocr import CraftDetector

    key = (policy.device, threads or policy.threads, policy.text_threshold, policy.low_text,
           policy.link_threshold, policy.min_long_side)
    with _lock:
        if key not in _cache:
            _cache[key] = CraftDetector(policy.device, key[1], policy.text_threshold,
                                        policy.low_text, policy.link_threshold, policy.min_long_side)
        return _cache[key]
