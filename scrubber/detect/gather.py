"""One network pass for the frames of several files: calls from many threads joined into a batch.

On a GPU the network's cost hardly grows with the batch while a lone 640x480 frame leaves most of
the card idle, so files scrubbed side by side in threads (scrubber/batch.py on CUDA) hand their
network inputs to one ``Gather``: the first call waits a moment (``window_s``) for others (only
when other threads called lately, so a lone worker never waits), calls
whose inputs have the same shape go through the network together, and each caller gets its own
rows back. A joined pass that fails is made again call by call (in halves where a call's own rows
fail too): only the caller whose input fails gets the error. Pre- and post-processing stay in the
callers' threads, so they run side by side.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

WINDOW_S = 0.003  # how long the first call of a batch waits for others
MAX_ROWS = 32  # inputs (frames, crops) in one network pass at most
COMPANY_S = 1.0  # the first call waits only when another thread called within this many seconds


@dataclass
class _Call:
    batch: np.ndarray
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


class Gather:
    """Callable like ``network``: (N, ...) array in, (N, ...) array out, safe from many threads.
    Calls arriving within ``window_s`` of each other whose inputs agree in shape (after the first
    axis) and type are joined along the first axis into one call of ``network`` (at most
    ``max_rows`` rows; a larger call goes alone)."""

    def __init__(self, network: Callable[[np.ndarray], np.ndarray], window_s: float = WINDOW_S,
                 max_rows: int = MAX_ROWS) -> None:
        self.network, self.window_s, self.max_rows = network, window_s, max_rows
        self.passes = 0  # network calls made (the tests and the benchmark read it)
        self.waits = 0  # times a first call waited for company
        self._pending: list[_Call] = []
        self._cond = threading.Condition()
        self._leader = False
        self._last_call: dict[int, float] = {}  # thread id -> when it last called

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        call = _Call(np.ascontiguousarray(batch))
        with self._cond:
            now, me = time.monotonic(), threading.get_ident()
            company = any(now - seen < COMPANY_S for thread, seen in self._last_call.items() if thread != me)
            self._last_call = {t: seen for t, seen in self._last_call.items() if now - seen < COMPANY_S}
            self._last_call[me] = now
            self._pending.append(call)
            lead = not self._leader
            if lead:
                self._leader = True
            else:
                self._cond.notify_all()
        if lead:
            self._lead(company)
        call.done.wait()
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def _lead(self, company: bool) -> None:
        """Run by the thread that found no batch forming: wait for company (when other threads
        called lately; a lone thread does not wait), then run every call pending (in passes by
        shape) until none is left, and hand over the lead."""
        if company:
            with self._cond:
                self.waits += 1
                self._cond.wait_for(lambda: sum(len(c.batch) for c in self._pending) >= self.max_rows,
                                    timeout=self.window_s)
        while True:
            with self._cond:
                calls, self._pending = self._pending, []
                if not calls:
                    self._leader = False
                    return
            for group in _groups(calls, self.max_rows):
                self._pass(group)

    def _pass(self, calls: list[_Call]) -> None:
        try:
            joined = calls[0].batch if len(calls) == 1 else np.concatenate([c.batch for c in calls])
            try:
                out = self._network(joined)
            except Exception:
                if len(joined) == 1:
                    raise
                out = None  # each call on its own, in halves where it fails too (below)
            start = 0
            for call in calls:
                try:
                    call.result = (out[start:start + len(call.batch)] if out is not None
                                   else self._halves(call.batch))
                except Exception as exc:
                    call.error = exc
                start += len(call.batch)
        except BaseException as exc:  # every waiting caller gets the error, none waits forever
            for call in calls:
                call.error = exc
        finally:
            for call in calls:
                call.done.set()

    def _network(self, batch: np.ndarray) -> np.ndarray:
        out = self.network(batch)
        self.passes += 1
        if len(out) != len(batch):
            raise RuntimeError(f"the network gave {len(out)} results for {len(batch)} inputs")
        return out

    def _halves(self, batch: np.ndarray) -> np.ndarray:
        """``batch`` through the network, split in halves where a pass fails: a card out of memory
        for a joined pass still reads each file's frames, and an input that fails the network
        fails only its own caller, not the files whose frames shared its pass."""
        try:
            return self._network(batch)
        except Exception:
            if len(batch) == 1:
                raise
            middle = len(batch) // 2
            return np.concatenate([self._halves(batch[:middle]), self._halves(batch[middle:])])


def _groups(calls: list[_Call], max_rows: int) -> list[list[_Call]]:
    """Calls in passes: same input shape and type, in arrival order, at most ``max_rows`` rows each
    (a call larger than that alone)."""
    by_shape: dict[tuple, list[list[_Call]]] = {}
    for call in calls:
        passes = by_shape.setdefault((call.batch.shape[1:], call.batch.dtype.str), [[]])
        if passes[-1] and sum(len(c.batch) for c in passes[-1]) + len(call.batch) > max_rows:
            passes.append([])
        passes[-1].append(call)
    return [group for passes in by_shape.values() for group in passes]
