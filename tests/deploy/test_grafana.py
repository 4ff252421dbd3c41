"""The Grafana dashboard: every panel query names metrics Wess exports (checked against
a real /metrics page), the views an operator needs are there, and each panel of the
original Wess dashboard (its grafana-wess.json) has a counterpart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana/dashboards/wess.json"
ORIGINAL_PANELS = {
    # the original panel (title, the metric its query named) -> its counterpart here
    ("HTTP Latency", "wess_http_request_latency_seconds_bucket"): "HTTP latency (original panel)",
    (
        "Database Ops READ",
        "wess_database_operations_total",
    ): "Database operations (original panels)",
    (
        "Database Ops WRITE",
        "wess_database_operations_total",
    ): "Database operations (original panels)",
    ("WASM Compile", "wess_wasm_compile_time_seconds_bucket"): "Wasm compile time (original panel)",
    (
        "WASM Execution",
        "wess_wasm_execution_time_seconds_bucket",
    ): "Wasm execution time (original panel)",
    (
        "Writer Channel Queue",
        "wess_writer_channel_queue",
    ): "Channel queues, free slots (original panels)",
    (
        "Writer Channel Queue",
        "wess_reader_channel_queue",
    ): "Channel queues, free slots (original panels)",
    (
        "Concurrent Connections",
        "wess_concurrent_connections",
    ): "Concurrent connections (original panel)",
    ("Panel Title", "wess_http_requests_total"): "Requests by path (original panel)",
}
"""The original's panels: latency buckets, database operations, compile and execution
time, the channel queues, connections and requests by path. (Its compile and execution
queries named the histograms without ``_bucket``, which selected nothing; here they do.)"""
NEEDED = {
    "request rate": ("Request rate by route", "wess_http_requests_total"),
    "latency percentiles": ("Latency percentiles", "wess_http_request_duration_seconds_bucket"),
    "errors by code": ("Errors by code", "wess_errors_total"),
    "invocations": ("Invocations by outcome", "wess_execution_duration_seconds_count"),
    "traps": ("Traps by kind and timeouts", "wess_traps_total"),
    "cache hit ratio": ("Cache hit ratio", "wess_cache_misses_total"),
    "compile time": ("Compile time", "wess_compile_duration_seconds_bucket"),
    "queue depths": ("Queue depths", "wess_queue_depth"),
    "cpu": ("CPU", "wess_cpu_usage"),
    "memory": ("Memory", "wess_memory_usage"),
}


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def panels(within: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in within:
        yield panel
        yield from panels(panel.get("panels", []))


def queries() -> Iterator[tuple[str, str]]:
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


@pytest.mark.parametrize(("title", "expr"), list(queries()))
def test_every_panel_query_names_metrics_wess_exports(title, expr, exported, names_in) -> None:
    """The query parses as PromQL and each metric it names is on Wess's /metrics."""
    names = names_in(expr)
    assert names, (title, expr)
    assert names - exported == set(), (title, expr)


def test_every_panel_has_a_query_and_a_place() -> None:
    """Panels (rows aside) have at least one query, a unique id, and fit the grid."""
    ids = []
    for panel in panels(dashboard()["panels"]):
        ids.append(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("need", "where"), list(NEEDED.items()))
def test_the_operator_views_are_there(need, where, names_in) -> None:
    """Request rate, latency percentiles, errors by code, invocations and traps, cache
    hit ratio, compile time, queue depths, CPU and memory each have their panel."""
    title, metric = where
    found = [expr for panel_title, expr in queries() if panel_title == title]
    assert any(metric in names_in(expr) for expr in found), need


@pytest.mark.parametrize(("original", "counterpart"), list(ORIGINAL_PANELS.items()))
def test_each_original_panel_has_a_counterpart(original, counterpart, names_in) -> None:
    """The counterpart panel queries the metric the original panel did."""
    _, metric = original
    found = [expr for title, expr in queries() if title == counterpart]
    assert found, counterpart
    assert any(metric in names_in(expr) for expr in found), (original, counterpart)


def test_grafana_provisions_this_dashboard_and_prometheus() -> None:
    """The provisioning files point Grafana at the mounted dashboards and at the
    Prometheus of compose.yaml."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = dict(volume.split(":")[:2] for volume in compose["services"]["grafana"]["volumes"])
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/wess.yml").read_text())
    (source,) = provider["providers"]
    assert mounts["./grafana/dashboards"] == source["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    sources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    (prometheus,) = sources["datasources"]
    assert prometheus["type"] == "prometheus"
    assert prometheus["url"] == "http://prometheus:9090"
    assert "9090:9090" in compose["services"]["prometheus"]["ports"]
