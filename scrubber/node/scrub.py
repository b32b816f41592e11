"""The scrub stage: ``incoming/`` -> ``outgoing/`` (or quarantine), in worker processes.

Scrubbing is CPU-bound and holds the GIL for long stretches, so it runs in its own processes
(the model loaded once in each) and the network threads of the node stay responsive. At most one
instance per worker is handed to the pool at a time, so a stop leaves the rest in ``incoming/``,
where the next start picks them up.
"""
from __future__ import annotations

import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ..api import FileReport, Policy, scrub_file
from ..detect.ocr import default_threads
from ..detect.registry import detector_for
from ..quiet import silence_pydicom_logging

# A worker process that dies (out of memory, a codec crash) takes every instance it was given
# with it; an instance that was in the pool this many times when that happened is quarantined.
MAX_ATTEMPTS = 2

_threads = 0
_load_error = ""


def _init_worker(policy: Policy, threads: int) -> None:
    """Load the model once per process; a Ctrl-C reaches the whole process group, but only the
    node decides when its workers stop."""
    global _threads, _load_error
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    silence_pydicom_logging()
    _threads = threads
    try:
        detector_for(policy, threads)
    except Exception as exc:
        _load_error = f"text detector could not be loaded ({type(exc).__name__}: {exc})"


def _ready() -> str:
    """Empty when this worker's detector is loaded, else why not."""
    return _load_error


def scrub_one(src: str, dst: str, policy: Policy, quarantine: str, rel: str) -> FileReport:
    """One spooled instance through the public API; a file that fails lands in quarantine."""
    try:
        detector = detector_for(policy, _threads)
    except Exception as exc:
        return FileReport(rel=rel, decision="failed", reason_code="detector_unavailable",
                          reason=f"text detector could not be loaded ({type(exc).__name__})")
    return scrub_file(Path(src), Path(dst), policy, rel=rel, quarantine=Path(quarantine), detector=detector)


Done = Callable[[str, FileReport | None, str], None]


class ScrubStage:
    """Feeds spooled names to a process pool, ``workers`` at a time, and reports each outcome.

    ``done(name, report, why)`` is called once per name that finished: ``report`` is None, and
    ``why`` says why, when its worker failed on it ``MAX_ATTEMPTS`` times (the caller quarantines it).
    """

    def __init__(self, policy: Policy, workers: int, incoming: Callable[[str], Path],
                 outgoing: Callable[[str], Path], quarantine: Path, done: Done) -> None:
        self.policy = policy
        self.workers = workers
        self.threads = policy.threads or default_threads(workers)
        self._incoming, self._outgoing, self._quarantine = incoming, outgoing, quarantine
        self._done = done
        self._queue: queue.Queue[str] = queue.Queue()
        self._stopping = threading.Event()
        self._slots = threading.Semaphore(workers)
        self._attempts: dict[str, int] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._thread = threading.Thread(target=self._dispatch, name="scrub-dispatch", daemon=True)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self.policy, self.threads))

    def start(self, timeout: float = 600.0) -> None:
        """Start the workers and wait until each has its model; raise RuntimeError if one cannot."""
        self._pool = self._new_pool()
        for future in [self._pool.submit(_ready) for _ in range(self.workers)]:
            error = future.result(timeout=timeout)
            if error:
                self._pool.shutdown(cancel_futures=True)
                raise RuntimeError(error)
        self._thread.start()

    def submit(self, name: str) -> None:
        self._queue.put(name)

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            try:
                name = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            while not self._slots.acquire(timeout=0.2):
                if self._stopping.is_set():
                    return
            if self._stopping.is_set():
                return
            self._attempts[name] = self._attempts.get(name, 0) + 1
            args = (str(self._incoming(name)), str(self._outgoing(name)), self.policy, str(self._quarantine), name)
            try:
                future = self._pool.submit(scrub_one, *args)
            except BrokenProcessPool:  # a worker died: the pool is replaced, the instance retried there
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                future = self._pool.submit(scrub_one, *args)
            future.add_done_callback(lambda f, n=name: self._finished(n, f))

    def _finished(self, name: str, future: Future) -> None:
        why = ""
        try:
            report = future.result()
        except CancelledError:
            return  # stopped before it started: still in incoming/, the next start takes it
        except BrokenProcessPool:
            report, why = None, "the worker process died under it"
        except Exception as exc:  # e.g. the quarantine copy failed in the worker
            report, why = None, f"the worker failed on it ({type(exc).__name__})"
        finally:
            self._slots.release()
        attempts = self._attempts.pop(name, 1)
        if report is None and attempts < MAX_ATTEMPTS:
            self._attempts[name] = attempts
            self._queue.put(name)
            return
        self._done(name, report, why)

    def stop(self) -> None:
        """Let the instances being scrubbed finish; the queued ones stay in ``incoming/``."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
