"""``RecordingObserver``: a ``RuntimeObserver`` that keeps everything it hears."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RecordingObserver:
    """Counts the compiled-module cache's events and keeps what they named, for an
    embedding's tests (``Runtime(observer=RecordingObserver())``)."""

    compiles: list[str] = field(default_factory=list)
    """Digests of the modules compiled, in order."""
    hits: int = 0
    misses: int = 0
    evictions: list[str] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    """(bytes, entries) of the cache after each change."""

    def compiled(self, digest: str, seconds: float) -> None:
        self.compiles.append(digest)

    def cache_hit(self) -> None:
        self.hits += 1

    def cache_miss(self) -> None:
        self.misses += 1

    def evicted(self, digest: str) -> None:
        self.evictions.append(digest)

    def cache_size(self, total_bytes: int, entries: int) -> None:
        self.sizes.append((total_bytes, entries))
