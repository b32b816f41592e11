"""What the node tells its operator: one line per instance, and running totals. No PHI.

Instances are named by the keyed digest of their SOP Instance UID (``scrubber.header.digest``,
the same value the audit records), never by a header value or a path that came from the sender.
"""
from __future__ import annotations

import logging
import sys
import threading
from dataclasses import asdict, dataclass

log = logging.getLogger("scrubber.node")


def setup_logging(stream=None) -> None:
    """Node lines go to stderr, time-stamped; pynetdicom's own logs stay off (they can dump datasets)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s scrubber serve: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL + 1)


@dataclass(frozen=True, slots=True)
class Totals:
    """A snapshot: ``received`` and the outcomes since this process started, ``pending`` now
    (in the spool, received or scrubbed but not yet accepted by the destination, including what
    an earlier run left there)."""

    received: int = 0
    delivered: int = 0
    quarantined: int = 0
    refused: int = 0  # C-STORE answered with a failure status (the spool could not take it)
    pending: int = 0

    def line(self) -> str:
        return "status " + " ".join(f"{k}={v}" for k, v in asdict(self).items())


class Counters:
    """Thread-safe totals, updated by the receiving, scrubbing and sending threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(("received", "delivered", "quarantined", "refused", "pending"), 0)

    def add(self, **changes: int) -> None:
        with self._lock:
            for name, value in changes.items():
                self._values[name] += value

    def snapshot(self) -> Totals:
        with self._lock:
            return Totals(**self._values)


def instance_line(instance: str, decision: str, seconds: float, reason: str = "") -> str:
    """``instance=<digest> decision=<delivered|quarantined> seconds=<since received>[ reason=<code>]``."""
    tail = f" reason={reason}" if reason else ""
    return f"instance={instance} decision={decision} seconds={seconds:.2f}{tail}"
