"""What the metrics of issue 10 add to one invocation, and what a scrape costs.

A micro-benchmark, not one of the P1-P7 figures; nanoseconds per call, best of five
interleaved rounds:

- before: the Runner's observation until issue 10, one cached histogram child
  ``observe`` by outcome;
- after: ``InvocationMetrics.observe``, the one call the Runner makes now, with no
  module listed (the usual case), with an allow-list the module is not on, and for a
  listed module under fuel metering (one ``observe`` and one counter ``inc``);
- a scrape: ``Metrics.render()`` after the calls, with the families derived then.

    .venv/bin/python bench/metrics_overhead.py [--calls 200000]
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Histogram

from wess.models import ModuleInfo
from wess.observability.metrics import LATENCY_BUCKETS, Metrics


def info(name: str) -> ModuleInfo:
    now = datetime.now(UTC)
    return ModuleInfo(
        id=uuid.uuid4(),
        name=name,
        namespace="default",
        digest="sha256:" + "0" * 64,
        size=1,
        revision=1,
        created_at=now,
        updated_at=now,
        default_function="sum",
        functions=(),
    )


def per_call(work: Callable[[], None], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        work()
    return (time.perf_counter_ns() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000)
    calls = parser.parse_args().calls
    before = Histogram(
        "before", "", ["outcome"], buckets=LATENCY_BUCKETS, registry=CollectorRegistry()
    ).labels(outcome="ok")
    plain = Metrics().invocations
    unlisted = Metrics(per_module=["adder", str(uuid.uuid4())]).invocations
    listed = Metrics(per_module=["adder"]).invocations
    module, adder = info("other"), info("adder")
    cases = {
        "before: child.observe": lambda: before.observe(0.0001),
        "after: no allow-list": lambda: plain.observe(module, "sum", "ok", 0.0001, None),
        "after: allow-list, module not on it": lambda: unlisted.observe(
            module, "sum", "ok", 0.0001, None
        ),
        "after: listed module, fuel metered": lambda: listed.observe(
            adder, "sum", "ok", 0.0001, 1234
        ),
    }
    best = {name: float("inf") for name in cases}
    for _ in range(5):
        for name, work in cases.items():
            best[name] = min(best[name], per_call(work, calls))
    for name, ns in best.items():
        print(f"{name:40s} {ns:8.0f} ns/call")
    metrics = Metrics()
    for _ in range(1000):
        metrics.observe_request("POST", "/v1/modules/{module_id}/run", 200, 0.001)
    scrape = min(per_call(metrics.render, 200) for _ in range(5))
    print(f"{'scrape: Metrics.render()':40s} {scrape / 1000:8.0f} us/scrape")


if __name__ == "__main__":
    main()
