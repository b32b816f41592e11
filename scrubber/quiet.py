"""Keep libraries from printing: pydicom's warnings and log lines quote attribute values (PHI), and
libjpeg writes its own lines to stderr."""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


def silence_pydicom_logging() -> None:
    """Drop pydicom's log records for this process (its messages can hold header values)."""
    logger = logging.getLogger("pydicom")
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False


_quiet_lock = threading.Lock()
_quiet: list[warnings.catch_warnings] = []  # the filters to restore, while any file is processed


@contextmanager
def no_warnings() -> Iterator[None]:
    """Suppress warnings while a file is processed; reasons are reported through ScrubError only.
    Safe when files are processed in several threads at once (``warnings.catch_warnings`` alone
    is not: one thread leaving would show warnings again while another is still inside)."""
    with _quiet_lock:
        if not _quiet:
            saved = warnings.catch_warnings()
            saved.__enter__()
            warnings.simplefilter("ignore")
            _quiet.append(saved)
        else:
            _quiet.append(_quiet[0])
    try:
        yield
    finally:
        with _quiet_lock:
            saved = _quiet.pop()
            if not _quiet:
                saved.__exit__(None, None, None)


# What libjpeg (jpeglib's build) writes to stderr itself, one line per message, on damaged but
# readable data; the frame checks (pixels/frame_checks.py) already judged such frames. "DCT
# coefficient out of range" is its encoder refusing a coefficient that a bit flip made too large
# to code: the write fails and the frame is written the other way (pixels/encode.py) or refused.
LIBJPEG_MESSAGES = ("Corrupt JPEG data", "Premature end of JPEG file", "Invalid SOS parameters",
                    "Inconsistent progression sequence", "Application transferred too few scanlines",
                    "Warning: unknown JFIF revision", "Warning: thumbnail image size", "DCT coefficient out of range")
_stderr_lock = threading.Lock()


@contextmanager
def native_stderr(dropped: tuple[str, ...] = LIBJPEG_MESSAGES) -> Iterator[None]:
    """Hold back what native code writes to file descriptor 2 while the block runs, and drop its
    lines that start with one of ``dropped``: a C library's own messages would break the CLI's one
    line per file. Whatever else reached descriptor 2 meanwhile (another thread) is written after."""
    with _stderr_lock:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with tempfile.TemporaryFile() as held:
                os.dup2(held.fileno(), 2)
                try:
                    yield
                finally:
                    sys.stderr.flush()
                    os.dup2(saved, 2)
                    held.seek(0)
                    kept = [line for line in held.read().splitlines(keepends=True)
                            if not line.decode("utf-8", "replace").startswith(dropped)]
                    if kept:
                        os.write(2, b"".join(kept))
        finally:
            os.close(saved)
