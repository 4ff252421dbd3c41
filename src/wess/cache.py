"""``ByteLRU``: a least-recently-used cache bounded by the total weight of its values,
by how many it holds, or by both.

Pure policy: no I/O, no metrics of its own. The owner gives the ``weigh`` function,
an optional time-to-live with a monotonic clock, and hooks that it can turn into
metrics. Thread-safe; hooks run after the lock is released, so they may call back in.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Hook = Callable[[K], None]


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    weight: int
    expires_at: float | None


class ByteLRU(Generic[K, V]):
    """At most ``max_bytes`` of values (as ``weigh`` counts them) and at most
    ``max_entries`` of them, least recently used out first; None lifts either bound.

    ``on_hit``/``on_miss`` see every ``get``; ``on_evict`` sees entries the cache drops
    on its own (over budget or expired), not those removed by ``pop``/``clear``/``put``.
    A value heavier than the whole budget is not cached at all, nor is anything when
    ``max_entries`` is 0. With ``keep_expired``, an expired entry is a miss for ``get``
    but stays (weighed, least recently used out first) until replaced, popped or pushed
    out, so that ``stale`` can still answer it: a copy to serve when the source of fresh
    ones is down.
    """

    def __init__(
        self,
        max_bytes: int | None,
        *,
        max_entries: int | None = None,
        weigh: Callable[[V], int],
        ttl_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_hit: Hook[K] | None = None,
        on_miss: Hook[K] | None = None,
        on_evict: Hook[K] | None = None,
        keep_expired: bool = False,
    ) -> None:
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0 or None, got {max_bytes}")
        if max_entries is not None and max_entries < 0:
            raise ValueError(f"max_entries must be >= 0 or None, got {max_entries}")
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be > 0 or None, got {ttl_seconds}")
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._weigh = weigh
        self._ttl = ttl_seconds
        self._clock = clock
        self._on_hit = on_hit
        self._on_miss = on_miss
        self._on_evict = on_evict
        self._keep_expired = keep_expired
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def max_bytes(self) -> int | None:
        """The byte budget (None: unbounded)."""
        return self._max_bytes

    @property
    def max_entries(self) -> int | None:
        """The most entries held at once (None: unbounded)."""
        return self._max_entries

    @property
    def bytes(self) -> int:
        """The total weight of the values held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value under ``key`` (now the most recently used), or None if absent or expired."""
        evicted: list[K] = []
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._expired(entry):
                if not self._keep_expired:
                    self._remove(key)
                    evicted.append(key)
                entry = None
            if entry is not None:
                self._entries.move_to_end(key)
        self._notify(self._on_evict, evicted)
        self._notify(self._on_hit if entry is not None else self._on_miss, [key])
        return None if entry is None else entry.value

    def put(self, key: K, value: V) -> bool:
        """Hold ``value`` under ``key``, evicting the least recently used to fit.

        Returns False, and drops any older value under ``key``, when ``value`` alone
        is heavier than the budget, or the cache may hold no entry at all.
        """
        weight = self._weigh(value)
        evicted: list[K] = []
        with self._lock:
            if key in self._entries:
                self._remove(key)
            if not self._fits(weight, 1):
                return False
            expires_at = None if self._ttl is None else self._clock() + self._ttl
            self._entries[key] = _Entry(value, weight, expires_at)
            self._bytes += weight
            while not self._fits(self._bytes, len(self._entries)):
                oldest = next(iter(self._entries))
                self._remove(oldest)
                evicted.append(oldest)
        self._notify(self._on_evict, evicted)
        return True

    def stale(self, key: K) -> V | None:
        """The value under ``key`` even if expired (``keep_expired``), or None; neither a
        hit nor a miss, and the entry's place in the LRU order does not change."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else entry.value

    def pop(self, key: K) -> V | None:
        """Remove and return the value under ``key`` (None if absent)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._remove(key)
            return entry.value

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def resize(
        self, max_bytes: int | None, *, max_entries: int | None = None, ttl_seconds: float | None
    ) -> None:
        """New bounds and time-to-live from now on: the least recently used leave at once
        to fit (``on_evict`` hears them); entries held keep the expiry they were put with."""
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0 or None, got {max_bytes}")
        if max_entries is not None and max_entries < 0:
            raise ValueError(f"max_entries must be >= 0 or None, got {max_entries}")
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be > 0 or None, got {ttl_seconds}")
        evicted: list[K] = []
        with self._lock:
            self._max_bytes, self._max_entries, self._ttl = max_bytes, max_entries, ttl_seconds
            while self._entries and not self._fits(self._bytes, len(self._entries)):
                oldest = next(iter(self._entries))
                self._remove(oldest)
                evicted.append(oldest)
        self._notify(self._on_evict, evicted)

    def _fits(self, weight: int, entries: int) -> bool:
        return (self._max_bytes is None or weight <= self._max_bytes) and (
            self._max_entries is None or entries <= self._max_entries
        )

    def _remove(self, key: K) -> None:
        entry = self._entries.pop(key)
        self._bytes -= entry.weight

    def _expired(self, entry: _Entry[V]) -> bool:
        return entry.expires_at is not None and self._clock() >= entry.expires_at

    @staticmethod
    def _notify(hook: Hook[K] | None, keys: list[K]) -> None:
        if hook is not None:
            for key in keys:
                hook(key)
