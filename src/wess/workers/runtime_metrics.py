"""The runtime's compile and cache events as Prometheus metrics."""

from __future__ import annotations

from wess.observability.metrics import Metrics

CACHE = "compiled"


class MetricsObserver:
    """The runtime's events as Prometheus metrics (cache="compiled")."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._hits = metrics.cache_hits.labels(cache=CACHE)
        self._misses = metrics.cache_misses.labels(cache=CACHE)

    def compiled(self, digest: str, seconds: float) -> None:
        self._metrics.compile_seconds.observe(seconds)

    def cache_hit(self) -> None:
        self._hits.inc()

    def cache_miss(self) -> None:
        self._misses.inc()

    def evicted(self, digest: str) -> None:
        self._metrics.cache_evictions.labels(cache=CACHE).inc()

    def cache_size(self, total_bytes: int, entries: int) -> None:
        self._metrics.cache_bytes.labels(cache=CACHE).set(total_bytes)
        self._metrics.cache_entries.labels(cache=CACHE).set(entries)
