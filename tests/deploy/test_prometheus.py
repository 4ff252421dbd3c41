"""The Prometheus scrape config and alert rules: each rule's expression parses as PromQL
(promql-parser, since promtool is not at hand) and names metrics Wess exports; the
rules cover what the operator must be woken for; the scrape reaches Wess's /metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
FROM_PROMETHEUS = {"up"}
"""Series Prometheus makes itself for every target."""
COVERED = {
    "error rate": ("WessHighErrorRate", "wess_http_requests_total"),
    "latency": ("WessHighLatency", "wess_http_request_duration_seconds_bucket"),
    "integrity errors": ("WessIntegrityErrors", "wess_integrity_errors_total"),
    "breaker open": ("WessBreakerOpen", "wess_breaker_state"),
    "readiness": ("WessNotReady", "wess_ready"),
    "refused reload": ("WessConfigReloadRefused", "wess_config_reloads_total"),
}
DURATION_UNITS = ("ms", "s", "m", "h", "d", "w", "y")


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_each_rule_is_valid_and_names_exported_metrics(rule, exported, names_in) -> None:
    """An alert with a PromQL expression over Wess's metrics, a severity, a summary,
    and a well-formed `for`."""
    names = names_in(rule["expr"])
    assert names, rule["alert"]
    assert names - exported - FROM_PROMETHEUS == set(), rule["alert"]
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert rule["annotations"]["summary"]
    if "for" in rule:
        assert rule["for"].endswith(DURATION_UNITS), rule["for"]
        assert rule["for"].rstrip("".join(DURATION_UNITS)).isdigit(), rule["for"]


def test_alert_names_are_unique() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("concern", "rule"), list(COVERED.items()))
def test_the_rules_cover_what_must_wake_someone(concern, rule, names_in) -> None:
    """Error rate, latency, integrity errors, an open breaker and readiness each have a
    rule over the metric that shows them."""
    name, metric = rule
    (found,) = [r for r in rules() if r["alert"] == name]
    assert metric in names_in(found["expr"]), concern


def test_the_scrape_reaches_wess_metrics_and_loads_the_rules(routes, settings_from) -> None:
    """The job scrapes /metrics (a route Wess serves) on the port compose's Wess binds,
    and loads the rules file from where compose mounts it."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] in routes
    ((target,),) = [static["targets"] for static in job["static_configs"]]
    host, port = target.split(":")
    wess = compose["services"][host]
    assert settings_from(wess["environment"]).server.port == int(port)
    assert settings_from(wess["environment"]).auth.metrics == "open"  # scraped without a key
    mounted = dict(v.split(":")[:2] for v in compose["services"]["prometheus"]["volumes"])
    assert mounted["./prometheus/alerts.yml"] in config["rule_files"]
    assert mounted["./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
