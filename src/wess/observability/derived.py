"""Families computed at scrape time from other metrics: the original Wess's names, and
the operator's views of existing counts. Nothing here runs on the request path.

- ``wess_http_request_latency_seconds`` (original, no labels): the per-route
  ``wess_http_request_duration_seconds`` added up;
- ``wess_error_count_total`` (original): ``wess_errors_total`` added up;
- ``wess_wasm_compile_time_seconds{wasm_module}`` (original):
  ``wess_compile_duration_seconds`` as ``wasm_module="other"`` (an upload compiles
  before it has an id, so compiles are not broken out by module);
- ``wess_reader_channel_queue``, ``wess_writer_channel_queue``,
  ``wess_runner_channel_queue`` (original): ``wess_queue_capacity`` minus
  ``wess_queue_depth``, the free slots, as the original exported (a channel's
  remaining capacity);
- ``wess_traps_total{kind}``: ``wess_sandbox_violations_total`` of the trap kinds;
- ``wess_timeouts_total``: ``wess_sandbox_violations_total{kind="timeout"}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from wess.observability.families import (
    HistogramTotals,
    counter_totals,
    histogram_totals,
    regroup_histograms,
)
from wess.observability.invocations import OTHER

if TYPE_CHECKING:
    from wess.observability.metrics import Metrics

ORIGINAL_QUEUES = ("reader", "writer", "runner")
"""The queues the original Wess exported as ``wess_<queue>_channel_queue``."""
NOT_TRAPS = frozenset({"timeout", "memory", "compile_limit", "execution_error"})
"""Sandbox violation kinds that are not traps (the Runner's ``violation_kind``)."""
TIMEOUT = "timeout"


class DerivedFamilies(Collector):
    """Computes the families of the module docstring from ``metrics`` when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return _families({}, {}, {}, {}, {}, {})

    def collect(self) -> Iterable[Metric]:
        m = self._metrics
        return _families(
            latency=histogram_totals(_one(m.http_latency), ()),
            errors=counter_totals(_one(m.errors), ()),
            compiles=histogram_totals(_one(m.compile_seconds), ()),
            depth=_by_queue(_one(m.queue_depth)),
            capacity=_by_queue(_one(m.queue_capacity)),
            violations={
                k[0]: v for k, v in counter_totals(_one(m.sandbox_violations), ("kind",)).items()
            },
        )


def _families(
    latency: HistogramTotals,
    errors: dict[tuple[str, ...], float],
    compiles: HistogramTotals,
    depth: dict[str, float],
    capacity: dict[str, float],
    violations: dict[str, float],
) -> list[Metric]:
    families: list[Metric] = []
    request_latency = HistogramMetricFamily(
        "wess_http_request_latency_seconds",
        "HTTP request latency (the original Wess's name; by route: "
        "wess_http_request_duration_seconds).",
    )
    for _, (buckets, total) in regroup_histograms(latency, lambda _: ()).items():
        request_latency.add_metric([], list(buckets.items()), total)
    families.append(request_latency)
    error_count = CounterMetricFamily(
        "wess_error_count",
        "Errors answered (the original Wess's name; by code: wess_errors_total).",
    )
    error_count.add_metric([], sum(errors.values()))
    families.append(error_count)
    compile_time = HistogramMetricFamily(
        "wess_wasm_compile_time_seconds",
        f"Module compile time (the original Wess's name); wasm_module={OTHER!r}: compiles "
        "are not broken out by module.",
        labels=["wasm_module"],
    )
    for _, (buckets, total) in regroup_histograms(compiles, lambda _: ()).items():
        compile_time.add_metric([OTHER], list(buckets.items()), total)
    families.append(compile_time)
    for queue in ORIGINAL_QUEUES:
        free = GaugeMetricFamily(
            f"wess_{queue}_channel_queue",
            f"Free slots in the {queue} queue (the original Wess's gauge, a channel's "
            f"remaining capacity); jobs in it: wess_queue_depth{{queue={queue!r}}}.",
        )
        if queue in capacity:
            free.add_metric([], max(capacity[queue] - depth.get(queue, 0.0), 0.0))
        families.append(free)
    traps = CounterMetricFamily("wess_traps", "Guest traps, by trap kind.", labels=["kind"])
    for kind, value in violations.items():
        if kind not in NOT_TRAPS:
            traps.add_metric([kind], value)
    families.append(traps)
    timeouts = CounterMetricFamily("wess_timeouts", "Calls stopped at their time limit.")
    timeouts.add_metric([], violations.get(TIMEOUT, 0.0))
    families.append(timeouts)
    return families


def _one(metric: object) -> Metric:
    (collected,) = metric.collect()  # type: ignore[attr-defined]
    return collected  # type: ignore[no-any-return]


def _by_queue(metric: Metric) -> dict[str, float]:
    return {k[0]: v for k, v in counter_totals(metric, ("queue",)).items()}
