"""Compiled modules, and the cache that keeps them by digest within a byte budget.

An entry counts what its module holds in memory (``compiling.resident_size``), and
grows as its functions are first called (``grow``). Least recently used entries leave
first once the byte budget, or the bound on entries, is exceeded; an entry larger than
the whole budget is not kept. Thread-safe: invocations on many threads look programs up
while the compile pool adds them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

import wasmtime

from wess.runtime.analysis import ModuleAnalysis
from wess.runtime.growguard import Footprint
from wess.runtime.observer import RuntimeObserver

T = TypeVar("T")


@dataclass(frozen=True, slots=True, eq=False)
class Compiled:
    """A module compiled once and linked once: everything a call needs.

    ``pre`` is the module with its imports resolved, instantiated afresh per call;
    ``guarded`` says refused grows are recorded (see ``growguard``); ``exports`` holds
    every export name, callable or not; ``wasm_size`` is the length of the module's
    bytes (not kept); ``size`` is what it counts against the cache, an estimate of the
    memory it holds (``compiling.resident_size``).
    """

    digest: str
    module: wasmtime.Module
    pre: wasmtime.InstancePre | None
    """None for a module that links others: instantiated per call, with its links."""
    analysis: ModuleAnalysis
    footprint: Footprint
    guarded: bool
    exports: frozenset[str]
    wasm_size: int
    size: int


class CompiledModuleCache(Generic[T]):
    """``digest -> (value, size)`` under a byte budget and at most ``max_entries``
    entries (None lifts either), least recently used first out."""

    def __init__(
        self, budget: int | None, observer: RuntimeObserver, *, max_entries: int | None = None
    ) -> None:
        self._budget = budget
        self._max_entries = max_entries
        self._observer = observer
        self._entries: OrderedDict[str, tuple[T, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, digest: str) -> T | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            self._entries.move_to_end(digest)
            return entry[0]

    def put(self, digest: str, value: T, size: int) -> None:
        """Hold ``value`` under ``digest``, counted as ``size`` bytes."""
        with self._lock:
            evicted = self._place(digest, value, size)
            total, entries = self._bytes, len(self._entries)
        self._report(evicted, total, entries)

    def grow(self, digest: str, value: T, by: int) -> None:
        """Count ``by`` more bytes for ``digest`` if it still holds ``value`` (now the
        most recently used); others leave to make room, as for ``put``."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None or entry[0] is not value:
                return
            evicted = self._place(digest, value, entry[1] + by)
            total, entries = self._bytes, len(self._entries)
        self._report(evicted, total, entries)

    def _place(self, digest: str, value: T, size: int) -> list[str]:
        """``put`` under the lock: the digests it pushed out."""
        evicted: list[str] = []
        previous = self._entries.pop(digest, None)
        if previous is not None:
            self._bytes -= previous[1]
        if self._fits(size, 1):
            self._entries[digest] = (value, size)
            self._bytes += size
        elif previous is not None:
            evicted.append(digest)
        while not self._fits(self._bytes, len(self._entries)):
            oldest, (_, oldest_size) = self._entries.popitem(last=False)
            self._bytes -= oldest_size
            evicted.append(oldest)
        return evicted

    def _fits(self, size: int, entries: int) -> bool:
        return (self._budget is None or size <= self._budget) and (
            self._max_entries is None or entries <= self._max_entries
        )

    def _report(self, evicted: list[str], total: int, entries: int) -> None:
        for digest in evicted:
            self._observer.evicted(digest)
        self._observer.cache_size(total, entries)

    def resize(self, budget: int | None, *, max_entries: int | None = None) -> None:
        """Hold at most ``budget`` bytes and ``max_entries`` entries from now on; the least
        recently used leave at once to fit."""
        evicted: list[str] = []
        with self._lock:
            self._budget, self._max_entries = budget, max_entries
            while self._entries and not self._fits(self._bytes, len(self._entries)):
                oldest, (_, oldest_size) = self._entries.popitem(last=False)
                self._bytes -= oldest_size
                evicted.append(oldest)
            total, entries = self._bytes, len(self._entries)
        self._report(evicted, total, entries)

    def discard(self, digest: str) -> bool:
        """Drop ``digest``; True if it was held."""
        with self._lock:
            entry = self._entries.pop(digest, None)
            if entry is not None:
                self._bytes -= entry[1]
            total, entries = self._bytes, len(self._entries)
        if entry is None:
            return False
        self._observer.evicted(digest)
        self._observer.cache_size(total, entries)
        return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
        self._observer.cache_size(0, 0)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, digest: object) -> bool:
        return digest in self._entries
