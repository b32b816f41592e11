"""One detector per process, built on first use and kept (model loading costs seconds)."""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from ..policy import Policy
from .boxes import Box

Detector = Callable[[Sequence[np.ndarray]], list[list[Box]]]

_cache: dict[tuple, Detector] = {}
_lock = threading.Lock()


def detector_for(policy: Policy, threads: int = 0) -> Detector:
    """The CRAFT detector for this policy's device and thresholds, loaded once per process."""
    from .ocr import CraftDetector

    key = (policy.device, threads or policy.threads, policy.text_threshold, policy.low_text,
           policy.link_threshold)
    with _lock:
        if key not in _cache:
            _cache[key] = CraftDetector(policy.device, key[1], policy.text_threshold,
                                        policy.low_text, policy.link_threshold)
        return _cache[key]
