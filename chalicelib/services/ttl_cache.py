"""A small thread-safe cache whose entries expire: warm Lambda containers reuse lookups.

Only successful loads are cached, so something created a moment ago is found
at once; what changes takes effect within the cache's time to live.

Entries are kept in the order they were written, which (one time to live, a clock
that only goes forward) is the order they expire: the expired and, past the bound,
the oldest are dropped from the front, in constant time per entry however full it is.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(
        self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()  # key -> (expires at, value)

    def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        now = self._clock()
        with self._lock:
            hits = {k: e for k in keys if (e := self._entries.get(k)) is not None}
        return {k: value for k, (expires, value) in hits.items() if expires > now}

    def get(self, key: K) -> V | None:
        return self.get_many((key,)).get(key)

    def put_many(self, values: dict[K, V]) -> None:
        now = self._clock()
        with self._lock:
            entries = self._entries
            for key, value in values.items():
                entries[key] = (now + self._ttl, value)
                entries.move_to_end(key)
            while entries and (len(entries) > self._max or next(iter(entries.values()))[0] <= now):
                entries.popitem(last=False)

    def put(self, key: K, value: V) -> None:
        self.put_many({key: value})

    def lookup(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, or `load()` cached; a load that raises caches nothing."""
        hit = self.get(key)
        if hit is not None:
            return hit
        value = load()
        self.put(key, value)
        return value

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
