"""Runtimes on both call paths, and an observer that counts what it hears."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from wess.runtime import Runtime, RuntimeConfig

PATHS = ("fast", "documented")


@pytest.fixture(params=PATHS)
def runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """A Runtime calling through the C API fast path, then one through wasmtime-py's
    documented API: every test using it checks both paths behave the same."""
    with Runtime(config=RuntimeConfig(fast_path=request.param == "fast")) as rt:
        yield rt


@dataclass
class CountingObserver:
    """A RuntimeObserver that keeps every event."""

    compiles: list[str] = field(default_factory=list)
    hits: int = 0
    misses: int = 0
    evictions: list[str] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)

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


@pytest.fixture
def observer() -> CountingObserver:
    return CountingObserver()
