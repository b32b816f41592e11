"""Where a codec that only reads and writes files (jpeglib) gets its files: the input's codestream,
burned-in text and all, and the rewritten one. In memory (MEMORY, a RAM-backed folder on Linux)
where the system has one with room, so that a run killed between writing and removing them leaves
no pixels of the input on a disk; else in the system's temporary folder. Either way the files sit
in a private folder of their own (mode 0700) and are removed when the codec is done."""
from __future__ import annotations

import os

MEMORY = "/dev/shm"
MEMORY_FREE = 64 << 20  # bytes MEMORY must have free (a frame's codestreams take at most a few MB)


def scratch_folder() -> str | None:
    """MEMORY where it is a folder this process may write with MEMORY_FREE bytes free, else None
    (``tempfile``'s default)."""
    try:
        stats = os.statvfs(MEMORY)
    except OSError:
        return None
    roomy = stats.f_bavail * stats.f_frsize >= MEMORY_FREE
    return MEMORY if roomy and os.path.isdir(MEMORY) and os.access(MEMORY, os.W_OK | os.X_OK) else None
