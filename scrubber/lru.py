"""A bounded memory of values by key, the least recently used forgotten first, safe across threads
(a Dask worker scrubs files in threads): what a series repeats file after file (its layout's
reference, the same box over the same pixels, the same palette) is made once."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

Value = TypeVar("Value")


class Lru(Generic[Value]):
    """Values by key, at most ``capacity`` of them."""

    def __init__(self, capacity: int, items: Mapping[Hashable, Value] | None = None) -> None:
        self._items: OrderedDict[Hashable, Value] = OrderedDict(items or {})
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Value | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything: what follows cannot depend on what was made before."""
        with self._lock:
            self._items.clear()

    def snapshot(self) -> dict[Hashable, Value]:
        """The values held, least recently used first (to start another memory from)."""
        with self._lock:
            return dict(self._items)
