"""How the Runtime reports what it does, without knowing who listens.

The runtime imports no metrics library; whoever embeds it passes an object with
these methods (the Runner adapts them to Prometheus). Methods are called from
whichever thread did the work and must be quick and never raise.
"""

from __future__ import annotations

from typing import Protocol


class RuntimeObserver(Protocol):
    """Events of the compiled-module cache and of compilation."""

    def compiled(self, digest: str, seconds: float) -> None:
        """A module was validated and compiled in ``seconds``."""

    def cache_hit(self) -> None:
        """A lookup was answered from the compiled-module cache."""

    def cache_miss(self) -> None:
        """A module had to be compiled because the cache did not hold it."""

    def evicted(self, digest: str) -> None:
        """A compiled module left the cache (budget or invalidation)."""

    def cache_size(self, total_bytes: int, entries: int) -> None:
        """The cache now holds ``entries`` modules of ``total_bytes`` in all."""


class ObserverGroup:
    """Fans events out to every observer added; what the Runtime talks to."""

    def __init__(self, *observers: RuntimeObserver) -> None:
        self._observers: tuple[RuntimeObserver, ...] = observers

    def add(self, observer: RuntimeObserver) -> None:
        self._observers = (*self._observers, observer)

    def remove(self, observer: RuntimeObserver) -> None:
        self._observers = tuple(o for o in self._observers if o is not observer)

    def compiled(self, digest: str, seconds: float) -> None:
        for observer in self._observers:
            observer.compiled(digest, seconds)

    def cache_hit(self) -> None:
        for observer in self._observers:
            observer.cache_hit()

    def cache_miss(self) -> None:
        for observer in self._observers:
            observer.cache_miss()

    def evicted(self, digest: str) -> None:
        for observer in self._observers:
            observer.evicted(digest)

    def cache_size(self, total_bytes: int, entries: int) -> None:
        for observer in self._observers:
            observer.cache_size(total_bytes, entries)
