"""Layouts seen before: files of one device, size and calibration share where their text sits.

The first image of a layout gets the full OCR pass; its rendering and detections are kept (per
process, a bounded number of layouts) so later images of the layout are compared with it and
looked at again only where they differ (scrubber/detect/series.py).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..lru import Lru
from .boxes import Detection
from .renderings import enhance

MAX_LAYOUTS = 32


@dataclass(frozen=True, slots=True)
class Reference:
    """The first image of a layout (full rendering) and what was found on it; its grey and
    enhanced grey renderings, which every later image of the layout is compared with, made once."""

    image: np.ndarray
    detections: tuple[Detection, ...]
    grey: np.ndarray = field(init=False, repr=False, compare=False)
    enhanced_grey: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "grey", cv2.cvtColor(self.image, cv2.COLOR_RGB2GRAY))
        object.__setattr__(self, "enhanced_grey", cv2.cvtColor(enhance(self.image), cv2.COLOR_RGB2GRAY))


class LayoutMemory(Lru[Reference]):
    """References by layout key, least recently used dropped first; safe across threads."""

    def __init__(self, capacity: int = MAX_LAYOUTS, items: Mapping[tuple, Reference] | None = None) -> None:
        super().__init__(capacity, items)


_memory = LayoutMemory()
_current: ContextVar[LayoutMemory | None] = ContextVar("scrubber_layouts", default=None)


def memory() -> LayoutMemory:
    """The layout memory in use here: a task's own (``using``), else this process's."""
    current = _current.get()
    return _memory if current is None else current


@contextmanager
def using(layouts: LayoutMemory) -> Iterator[LayoutMemory]:
    """Scrub with ``layouts`` instead of the process's memory, in this thread only: a parallel
    run gives each task the references its files would have met in the serial run (batch.py)."""
    token = _current.set(layouts)
    try:
        yield layouts
    finally:
        _current.reset(token)
