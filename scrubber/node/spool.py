"""The node's durable queue on disk: an instance is acknowledged only once it is here.

Two folders hold the two states an instance can be in between the network's two ends:
``incoming/`` (received, not yet scrubbed) and ``outgoing/`` (scrubbed, not yet accepted by the
destination). Every file is written as a temp file beside its target, fsynced and renamed
(``scrubber.write.atomic_write``), so a crash leaves either the whole file or none of it; the
temp files (``.*.part``) a crash leaves behind are removed on the next start.

A file's name is ``<arrival ns>-<keyed digest of its SOP Instance UID>.dcm``: arrival order,
and a handle for log lines that reveals nothing of the instance.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ..write import atomic_write_bytes

INCOMING = "incoming"
OUTGOING = "outgoing"


class Spool:
    """One node's spool folder; safe to use from several threads of one process."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.incoming_dir = self.root / INCOMING
        self.outgoing_dir = self.root / OUTGOING
        for folder in (self.incoming_dir, self.outgoing_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._last_ns = 0

    def incoming(self, name: str) -> Path:
        return self.incoming_dir / name

    def outgoing(self, name: str) -> Path:
        return self.outgoing_dir / name

    def _new_name(self, instance: str) -> str:
        with self._lock:
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            return f"{self._last_ns:020d}-{instance}.dcm"

    def receive(self, data: bytes, instance: str) -> str:
        """Store one received instance (Part 10 bytes, file meta included) durably; its name."""
        name = self._new_name(instance)
        atomic_write_bytes(self.incoming(name), data)
        return name

    def scrubbed(self, name: str) -> None:
        """The clean copy is in ``outgoing/`` (or in quarantine): the received one may go."""
        _unlink(self.incoming(name))

    def sent(self, name: str) -> None:
        """The destination accepted the clean copy: nothing of this instance stays here."""
        _unlink(self.outgoing(name))

    def recover(self) -> tuple[list[str], list[str]]:
        """Where a previous run stopped: (to scrub, to send), each in arrival order.

        Temp files of interrupted writes are removed. An instance found in both folders was
        scrubbed and the process stopped before it removed the received copy: it is sent, not
        scrubbed again.
        """
        for folder in (self.incoming_dir, self.outgoing_dir):
            for part in folder.glob(".*.part"):
                _unlink(part)
        to_send = _names(self.outgoing_dir)
        for name in set(to_send) & set(_names(self.incoming_dir)):
            _unlink(self.incoming(name))
        return _names(self.incoming_dir), to_send

    @staticmethod
    def received_at(name: str) -> float:
        """Arrival time (seconds since the epoch) recorded in an instance's spool name."""
        return int(name.split("-", 1)[0]) / 1e9


def instance_of(name: str) -> str:
    """The keyed digest of the SOP Instance UID in a spool name (what log lines show)."""
    return name.split("-", 1)[-1].removesuffix(".dcm")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
