"""Reading metrics back and adding them up: the arithmetic of families derived at scrape.

Some exported families are sums of others (the original Wess's unlabelled request
latency is the per-route latency added up). Deriving them when Prometheus scrapes
costs the request path nothing; these pure functions do the adding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client.metrics_core import Metric

Labels = tuple[str, ...]
HistogramTotals = dict[Labels, tuple[dict[str, float], float]]
"""Label values -> (cumulative count per bucket bound ``le``, sum of observations)."""


def histogram_totals(metric: Metric, labels: Sequence[str]) -> HistogramTotals:
    """The buckets and sum of each child of a collected histogram, keyed by ``labels``."""
    totals: HistogramTotals = {}
    for sample in metric.samples:
        key = tuple(sample.labels.get(name, "") for name in labels)
        buckets, total = totals.get(key, ({}, 0.0))
        if sample.name.endswith("_bucket"):
            le = sample.labels["le"]
            buckets[le] = buckets.get(le, 0.0) + sample.value
        elif sample.name.endswith("_sum"):
            total += sample.value
        else:
            continue
        totals[key] = (buckets, total)
    return totals


def counter_totals(metric: Metric, labels: Sequence[str]) -> dict[Labels, float]:
    """The value of each child of a collected counter (or gauge), keyed by ``labels``."""
    totals: dict[Labels, float] = {}
    for sample in metric.samples:
        if sample.name.endswith("_created"):
            continue
        key = tuple(sample.labels.get(name, "") for name in labels)
        totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def regroup_histograms(
    totals: HistogramTotals, key: Callable[[Labels], Labels | None]
) -> HistogramTotals:
    """``totals`` added up by ``key`` of their labels (children whose key is None are
    left out). Bucket bounds keep their order: every child of one histogram has the same."""
    merged: HistogramTotals = {}
    for labels, (buckets, total) in totals.items():
        target = key(labels)
        if target is None:
            continue
        into, so_far = merged.get(target, ({}, 0.0))
        for le, count in buckets.items():
            into[le] = into.get(le, 0.0) + count
        merged[target] = (into, so_far + total)
    return merged


def regroup_counters(
    totals: dict[Labels, float], key: Callable[[Labels], Labels | None]
) -> dict[Labels, float]:
    """``totals`` added up by ``key`` of their labels (None: left out)."""
    merged: dict[Labels, float] = {}
    for labels, value in totals.items():
        target = key(labels)
        if target is not None:
            merged[target] = merged.get(target, 0.0) + value
    return merged
