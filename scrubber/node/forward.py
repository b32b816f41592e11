"""The sending end: clean instances from ``outgoing/`` to the next node, retried until accepted.

An instance leaves the spool only after the destination answered C-STORE with a success (or
warning) status, or after it was written whole into the output folder. A destination that cannot
be reached is tried again after 1 s, then 2, 4 ... up to 60 s; an instance the destination
refuses (a failure status, or no presentation context for its SOP class and transfer syntax)
waits on the same schedule of its own while the others go on.
"""
from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pydicom

from ..naming import uid_path
from ..write import atomic_write
from .spool import instance_of
from .status import log

FIRST_DELAY, MAX_DELAY = 1.0, 60.0
# pynetdicom's limit per association is 128 presentation contexts; one per (SOP class, syntax)
MAX_CONTEXTS = 128
SUCCESS_STATUSES = {0x0000, 0xB000, 0xB006, 0xB007}  # success, and warnings: the instance was stored


class DestinationDown(Exception):
    """No association, or it broke: nothing was stored, every pending instance waits."""


class Refused(Exception):
    """The destination answered for this instance with a failure: it waits, the others go on."""


class Backoff:
    """Delays of 1 s doubling to 60 s while failures go on; back to the start after a success."""

    def __init__(self, first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> None:
        self.first, self.cap, self.delay = first, cap, 0.0

    def failed(self) -> float:
        self.delay = self.first if self.delay == 0 else min(self.cap, self.delay * 2)
        return self.delay

    def reset(self) -> None:
        self.delay = 0.0


@dataclass(frozen=True, slots=True)
class Address:
    """``AET@HOST:PORT`` of a DICOM node."""

    aet: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> "Address":
        aet, at, rest = text.partition("@")
        host, colon, port = rest.rpartition(":")
        if not (at and colon and aet and host and port.isdigit() and 0 < int(port) < 65536 and len(aet) <= 16):
            raise ValueError(f"expected AET@HOST:PORT (AE title of at most 16 characters), got {text!r}")
        return cls(aet, host.strip("[]"), int(port))

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"


def _meta(path: Path) -> tuple[str, str]:
    meta = pydicom.filereader.read_file_meta_info(path)
    return str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)


class StoreDestination:
    """C-STORE to another node, each instance in the transfer syntax it was written in."""

    def __init__(self, calling_aet: str, address: Address, timeout: float = 30.0) -> None:
        from pynetdicom import AE, _config

        _config.STORE_SEND_CHUNKED_DATASET = True  # send the file's bytes as written, not re-encoded
        self.address = address
        self.ae = AE(ae_title=calling_aet)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.connection_timeout = timeout
        self.ae.network_timeout = 2 * timeout

    def __str__(self) -> str:
        return str(self.address)

    def fit(self, paths: list[Path]) -> list[Path]:
        """The leading paths whose (SOP class, syntax) pairs fit in one association."""
        pairs: set[tuple[str, str]] = set()
        kept = []
        for path in paths:
            pair = _meta(path)
            if pair not in pairs and len(pairs) == MAX_CONTEXTS:
                break
            pairs.add(pair)
            kept.append(path)
        return kept

    @contextmanager
    def session(self, paths: list[Path]) -> Iterator[Callable[[Path], None]]:
        from pynetdicom.presentation import build_context

        contexts = [build_context(sop, [syntax]) for sop, syntax in sorted({_meta(p) for p in paths})]
        assoc = self.ae.associate(self.address.host, self.address.port, ae_title=self.address.aet,
                                  contexts=contexts)
        if not assoc.is_established:
            why = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "no connection"
            raise DestinationDown(f"association {why}")

        def send(path: Path) -> None:
            try:
                status = assoc.send_c_store(path)
            except ValueError:
                raise Refused("no accepted presentation context for its SOP class and transfer syntax") from None
            if not assoc.is_established or "Status" not in status:
                raise DestinationDown("no C-STORE response (association aborted or timed out)")
            if int(status.Status) not in SUCCESS_STATUSES:
                raise Refused(f"C-STORE status 0x{int(status.Status):04X}")

        try:
            yield send
        finally:
            if assoc.is_established:
                assoc.release()


class FolderDestination:
    """Clean instances written under a folder as ``<PatientID>/<Study>/<Series>/<SOP>.dcm`` of the
    cleaned header (pseudonyms and keyed UIDs, as ``run --rename uid``); written again whole on
    a restart, never half."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def __str__(self) -> str:
        return str(self.folder)

    def fit(self, paths: list[Path]) -> list[Path]:
        return paths

    @contextmanager
    def session(self, paths: list[Path]) -> Iterator[Callable[[Path], None]]:
        def send(path: Path) -> None:
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                with path.open("rb") as source:
                    atomic_write(self.folder / uid_path(ds), lambda handle: shutil.copyfileobj(source, handle))
            except OSError as exc:
                raise DestinationDown(f"writing to the output folder failed ({type(exc).__name__})") from None

        yield send


Destination = StoreDestination | FolderDestination


class Forwarder:
    """One thread that sends what the scrub stage put in ``outgoing/``, oldest first."""

    def __init__(self, destination: Destination, outgoing: Callable[[str], Path],
                 sent: Callable[[str], None], batch: int = 64) -> None:
        self.destination = destination
        self._outgoing = outgoing
        self._sent = sent
        self._batch = batch
        self._due: dict[str, float] = {}  # name -> when it may be tried (monotonic seconds)
        self._held: dict[str, Backoff] = {}  # names the destination refused, each with its own delay
        self._backoff = Backoff()
        self._retry_at = 0.0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="forward", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, name: str) -> None:
        with self._cond:
            self._due[name] = 0.0
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._due)

    def stop(self) -> None:
        """Finish the C-STORE under way (so its outcome is known and recorded), then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()

    def _next(self) -> list[str]:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                due = sorted(n for n, at in self._due.items() if at <= now) if now >= self._retry_at else []
                if due:
                    return due[:self._batch]
                # nothing due: sleep until the earliest instance may be tried, and not before the
                # destination's own retry time; a new instance or a stop wakes us sooner
                wake = max(min(self._due.values()), self._retry_at) if self._due else None
                self._cond.wait(timeout=max(0.05, wake - now) if wake is not None else None)
            return []

    def _run(self) -> None:
        while True:
            names = self._next()
            if not names:
                return
            try:
                self._send(names)
                self._backoff.reset()
                self._retry_at = 0.0
            except Exception as exc:  # DestinationDown, or anything else the network throws: try later
                why = str(exc) if isinstance(exc, DestinationDown) else type(exc).__name__
                delay = self._backoff.failed()
                self._retry_at = time.monotonic() + delay
                log.warning(f"destination {self.destination} unavailable ({why}); {self.pending()} pending, "
                            f"next try in {delay:.0f} s")

    def _send(self, names: list[str]) -> None:
        paths = {}
        for name in names:
            path = self._outgoing(name)
            if path.is_file():
                paths[name] = path
            else:  # removed from the spool by hand: nothing left to send
                log.warning(f"instance={instance_of(name)} is gone from the spool; not sent")
                with self._cond:
                    self._due.pop(name, None)
        try:
            fitting = self.destination.fit(list(paths.values()))
        except Exception as exc:
            raise DestinationDown(f"reading the spool failed ({type(exc).__name__})") from None
        kept = set(fitting)
        names = [n for n in paths if paths[n] in kept]
        if not names:
            return
        with self.destination.session(fitting) as send:
            for name in names:
                if self._stopping:
                    return
                try:
                    send(paths[name])
                except Refused as exc:
                    delay = self._held.setdefault(name, Backoff()).failed()
                    with self._cond:
                        self._due[name] = time.monotonic() + delay
                    log.warning(f"instance={instance_of(name)} refused by {self.destination} ({exc}); "
                                f"next try in {delay:.0f} s")
                    continue
                with self._cond:
                    self._due.pop(name, None)
                self._held.pop(name, None)
                self._sent(name)
