"""Invocations: one observation per call, by outcome, and by module for a few modules.

Module ids and function names come from users, so they are labels only for the
modules an operator lists (``metrics.per_module``, ids or names): every other call is
counted under ``module=""``, and a thousand modules make no more series than one.

The Runner records each call once, into one internal histogram (outcome, module,
function) and, under fuel metering, one internal counter; neither is registered.
``InvocationFamilies`` derives the exported families from them at scrape time, so the
hot path pays for one ``observe`` however many families show it:

- ``wess_execution_duration_seconds{outcome}``: every call;
- ``wess_wasm_execution_time_seconds{function_name}`` (the original Wess's): by
  function for listed modules, ``function_name="other"`` for the rest;
- ``wess_module_execution_duration_seconds{module,function,outcome}``: listed only;
- ``wess_fuel_consumed_total`` and ``wess_module_fuel_consumed_total{module}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from wess.models import ModuleInfo
from wess.observability.families import (
    HistogramTotals,
    counter_totals,
    histogram_totals,
    regroup_histograms,
)

OTHER = "other"
"""The ``function_name`` (``wasm_module``) of the calls (compiles) that the original
families do not break out per module."""
CALL_LABELS = ("outcome", "module", "function")


class InvocationMetrics:
    """Records invocations; ``per_module`` lists the module ids or names whose calls get
    series of their own (the entry that matched is their ``module`` label)."""

    def __init__(self, *, per_module: Iterable[str], buckets: tuple[float, ...]) -> None:
        entries = tuple(per_module)
        ids = {entry: _uuid(entry) for entry in entries}
        self._ids = {uuid: entry for entry, uuid in ids.items() if uuid is not None}
        self._names = frozenset(entry for entry, uuid in ids.items() if uuid is None)
        self._listing = bool(entries)
        self.durations = Histogram(
            "wess_invocation_seconds", "internal", CALL_LABELS, buckets=buckets, registry=None
        )
        self.fuel = Counter("wess_invocation_fuel", "internal", ["module"], registry=None)
        self._children: dict[tuple[str, str, str] | str, Any] = {}
        self._fuel: dict[str, Any] = {}

    def observe(
        self, module: ModuleInfo, function: str, outcome: str, seconds: float, fuel: int | None
    ) -> None:
        """One finished call (``fuel``: what it consumed, None when unmetered)."""
        label = self._label(module) if self._listing else ""
        key = (outcome, label, function) if label else outcome
        child = self._children.get(key)
        if child is None:  # one child per key: labels() costs more than observe()
            labels = key if isinstance(key, tuple) else (outcome, "", "")
            child = self._children[key] = self.durations.labels(*labels)
        child.observe(seconds)
        if fuel:
            counter = self._fuel.get(label)
            if counter is None:
                counter = self._fuel[label] = self.fuel.labels(module=label)
            counter.inc(fuel)

    def _label(self, module: ModuleInfo) -> str:
        listed = self._ids.get(module.id)
        if listed is not None:
            return listed
        return module.name if module.name in self._names else ""


class InvocationFamilies(Collector):
    """The exported families of ``InvocationMetrics``, computed when scraped."""

    def __init__(self, invocations: InvocationMetrics) -> None:
        self._invocations = invocations

    def describe(self) -> Iterable[Metric]:
        return _families({}, {})

    def collect(self) -> Iterable[Metric]:
        (durations,) = self._invocations.durations.collect()
        (fuel,) = self._invocations.fuel.collect()
        calls = histogram_totals(durations, CALL_LABELS)
        return _families(calls, {k[0]: v for k, v in counter_totals(fuel, ("module",)).items()})


def _families(calls: HistogramTotals, fuel: dict[str, float]) -> list[Metric]:
    by_outcome = HistogramMetricFamily(
        "wess_execution_duration_seconds",
        "Time spent running guest code, by outcome (its _count counts the invocations).",
        labels=["outcome"],
    )
    for key, (buckets, total) in regroup_histograms(calls, lambda k: k[:1]).items():
        by_outcome.add_metric(list(key), list(buckets.items()), total)
    original = HistogramMetricFamily(
        "wess_wasm_execution_time_seconds",
        "Execution time of wasm functions (the original Wess's name): by function for the "
        f"modules of metrics.per_module, function_name={OTHER!r} for every other call.",
        labels=["function_name"],
    )
    for key, (buckets, total) in regroup_histograms(calls, lambda k: (k[2] or OTHER,)).items():
        original.add_metric(list(key), list(buckets.items()), total)
    per_module = HistogramMetricFamily(
        "wess_module_execution_duration_seconds",
        "Calls of the modules of metrics.per_module, by module, function and outcome.",
        labels=["module", "function", "outcome"],
    )
    for (outcome, module, function), (buckets, total) in calls.items():
        if module:
            per_module.add_metric([module, function, outcome], list(buckets.items()), total)
    consumed = CounterMetricFamily(
        "wess_fuel_consumed", "Fuel consumed by the calls that completed under fuel metering."
    )
    consumed.add_metric([], sum(fuel.values()))
    by_module = CounterMetricFamily(
        "wess_module_fuel_consumed",
        "Fuel consumed by the modules of metrics.per_module.",
        labels=["module"],
    )
    for module, value in fuel.items():
        if module:
            by_module.add_metric([module], value)
    return [by_outcome, original, per_module, consumed, by_module]


def _uuid(entry: str) -> UUID | None:
    try:
        return UUID(entry)
    except ValueError:
        return None
