"""A least-recently-used memo bounded by entries and bytes.

Holds the prepared folds of a ``trainer.trial_cache.TrialCache``: bounded so a walk-forward
study keeps each of its quarterly folds without a long study on a large table growing without
end.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    def __init__(self, max_entries: int, max_bytes: int, size_of: Callable[[V], int]) -> None:
        self.max_entries, self.max_bytes, self.size_of = max_entries, max_bytes, size_of
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], V]) -> V:
        """The value kept for ``key``, else ``build()``, kept (least recently used go first)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
        value = build()  # outside the lock: a build may take seconds
        size = self.size_of(value)
        with self._lock:
            if key in self._entries:
                self._bytes -= self._entries.pop(key)[1]
            self._entries[key] = (value, size)
            self._bytes += size
            # the newest entry stays whatever its size: its caller is about to use it
            while len(self._entries) > 1 and (
                len(self._entries) > self.max_entries or self._bytes > self.max_bytes
            ):
                self._bytes -= self._entries.popitem(last=False)[1][1]
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def values(self) -> list[V]:
        with self._lock:
            return [value for value, _ in self._entries.values()]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
