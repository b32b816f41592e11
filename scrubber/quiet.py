"""Keep pydicom from printing: its warnings and log lines quote attribute values (PHI)."""
from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


def silence_pydicom_logging() -> None:
    """Drop pydicom's log records for this process (its messages can hold header values)."""
    logger = logging.getLogger("pydicom")
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False


@contextmanager
def no_warnings() -> Iterator[None]:
    """Suppress warnings while a file is processed; reasons are reported through ScrubError only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
