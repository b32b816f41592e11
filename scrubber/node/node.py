"""The node: receive (scp) -> spool -> scrub (worker processes) -> spool -> forward, with totals.

The node calls the public API (``scrubber.api.scrub_file``) and nothing in the pipeline knows
about the network. An instance is in exactly one place at a time: ``incoming/``, ``outgoing/``,
quarantine, or delivered; each move is an atomic rename or happens only after the next place
holds the whole file.
"""
from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..api import FileReport, Policy
from ..audit import AuditLog
from ..files import quarantine_copy
from .forward import Address, FolderDestination, Forwarder, StoreDestination
from .scp import Receiver, server_tls
from .scrub import MAX_ATTEMPTS, ScrubStage
from .spool import Spool, instance_of
from .status import Counters, Totals, instance_line, log


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Where the node listens, where clean instances go, and where it keeps its state.

    Exactly one of ``forward`` (another DICOM node) and ``out`` (a folder) is set.
    """

    aet: str
    port: int
    spool: Path
    quarantine: Path
    forward: Address | None = None
    out: Path | None = None
    bind: str = "0.0.0.0"
    allow: tuple[str, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    workers: int = 1
    audit: Path | None = None

    def __post_init__(self) -> None:
        if (self.forward is None) == (self.out is None):
            raise ValueError("give exactly one of a destination node (--forward) and an output folder (--out)")
        if bool(self.tls_cert) != bool(self.tls_key) or (self.tls_ca and not self.tls_cert):
            raise ValueError("TLS needs both a certificate and its key (--tls-cert, --tls-key); --tls-ca needs them")
        if not 1 <= len(self.aet) <= 16:
            raise ValueError("an AE title has 1 to 16 characters")
        if self.workers < 1:
            raise ValueError("--workers must be at least 1")


class Node:
    """One running node. ``start`` picks up what the spool holds; ``stop`` leaves nothing half-done."""

    def __init__(self, config: NodeConfig, policy: Policy) -> None:
        self.config = config
        self.policy = policy
        self.counters = Counters()
        self.spool = Spool(config.spool)
        self.config.quarantine.mkdir(parents=True, exist_ok=True)
        self._audit = AuditLog(config.audit, policy.key, policy.settings_digest()) if config.audit else None
        self._audit_lock = threading.Lock()
        destination = (StoreDestination(config.aet, config.forward) if config.forward
                       else FolderDestination(config.out))
        self.forwarder = Forwarder(destination, self.spool.outgoing, self._sent)
        self.scrub = ScrubStage(policy, config.workers, self.spool.incoming, self.spool.outgoing,
                                config.quarantine, self._scrubbed)
        tls = server_tls(config.tls_cert, config.tls_key, config.tls_ca) if config.tls_cert else None
        self.receiver = Receiver(config.aet, config.bind, config.port, self.spool, policy.key, self.counters,
                                 self._received, config.allow, tls)

    def start(self) -> None:
        """Resume the spool, load the model in every worker, then open the port."""
        to_scrub, to_send = self.spool.recover()
        self.counters.add(pending=len(to_scrub) + len(to_send))
        if to_scrub or to_send:
            log.info(f"spool: {len(to_scrub)} received instance(s) to scrub, {len(to_send)} clean one(s) to send")
        self.scrub.start()
        self.forwarder.start()
        for name in to_send:
            self.forwarder.add(name)
        for name in to_scrub:
            self.scrub.submit(name)
        self.receiver.start()
        tls = " (TLS)" if self.receiver.tls else ""
        log.info(f"listening on {self.config.bind}:{self.config.port} as {self.config.aet}{tls}, "
                 f"{self.config.workers} scrub worker(s), sending to {self.forwarder.destination}")

    def status(self) -> Totals:
        """Totals now: received, delivered, quarantined, refused since start; pending in the spool."""
        return self.counters.snapshot()

    def stop(self) -> None:
        """No new association; finish the scrubs and the C-STORE under way; keep the rest spooled."""
        self.receiver.stop()
        self.scrub.stop()
        self.forwarder.stop()
        if self._audit is not None:
            self._audit.close()

    def _received(self, name: str) -> None:
        self.counters.add(received=1, pending=1)
        self.scrub.submit(name)

    def _scrubbed(self, name: str, report: FileReport | None, why: str) -> None:
        if report is None:
            report = FileReport(rel=name, decision="failed", reason_code="worker_failed",
                                reason=f"{why}, {MAX_ATTEMPTS} times", instance=instance_of(name))
            try:
                quarantine_copy(self.spool.incoming(name), self.config.quarantine / name, report)
            except OSError as exc:  # not delivered, not lost: it stays in incoming/ for the next start
                log.error(f"instance={instance_of(name)} could not be quarantined ({type(exc).__name__}); kept in the spool")
                return
        if self._audit is not None:
            with self._audit_lock:
                self._audit.write(report)
        self.spool.scrubbed(name)
        if report.decision == "delivered":
            self.forwarder.add(name)
            return
        self.counters.add(quarantined=1, pending=-1)
        log.info(instance_line(instance_of(name), "quarantined", time.time() - Spool.received_at(name),
                               report.reason_code))

    def _sent(self, name: str) -> None:
        self.spool.sent(name)
        self.counters.add(delivered=1, pending=-1)
        log.info(instance_line(instance_of(name), "delivered", time.time() - Spool.received_at(name)))


def serve(node: Node, status_interval: float = 60.0) -> None:
    """Run ``node`` until SIGINT or SIGTERM; log the totals every ``status_interval`` seconds when
    they changed, on SIGUSR1, and at the end."""
    wake = threading.Event()
    asked: set[str] = set()

    def ask(what: str):
        def handler(signum, frame) -> None:
            asked.add(what)
            wake.set()
        return handler

    previous = {sig: signal.signal(sig, ask("stop")) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, ask("status"))
    try:
        try:
            node.start()
        except BaseException:
            node.stop()  # workers already started, spool untouched: nothing is lost
            raise
        last = node.status()
        log.info(last.line())
        next_line = time.monotonic() + status_interval
        while "stop" not in asked:
            wake.wait(timeout=max(0.0, next_line - time.monotonic()))
            wake.clear()
            now = node.status()
            if "status" in asked or (time.monotonic() >= next_line and now != last):
                asked.discard("status")
                log.info(now.line())
                last = now
            if time.monotonic() >= next_line:
                next_line = time.monotonic() + status_interval
        log.info("stopping: no new associations; finishing the scrubs and the C-STORE under way")
        node.stop()
        log.info(node.status().line())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
