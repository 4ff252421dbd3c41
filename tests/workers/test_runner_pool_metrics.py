"""The Runner's pool gauges: invocations waiting for the pool, and handed to it."""

from __future__ import annotations

import asyncio

import pytest

from tests.storage.builders import fixture_record as record
from wess.errors import ExecutionTimeout
from wess.observability.metrics import Metrics
from wess.runtime import Limits, Runtime
from wess.workers.runner import Runner


def gauges(metrics: Metrics) -> tuple[float | None, float | None]:
    value = metrics.registry.get_sample_value
    return (
        value("wess_invocations_queued", {"pool": "invoke"}),
        value("wess_invocations_in_flight", {"pool": "invoke"}),
    )


async def test_a_call_is_queued_then_in_flight_then_gone() -> None:
    """A call waiting for its module's compile is queued; running on the pool, it is in
    flight; once it stopped, neither."""
    metrics = Metrics()
    with Runtime(limits=Limits(timeout_ms=2000)) as runtime:
        async with Runner(runtime, metrics=metrics, workers=1) as runner:
            assert gauges(metrics) == (0, 0)
            limits = runtime.limits.narrowed(timeout_ms=300)
            spinning = asyncio.create_task(runner.run(record("traps"), "spin", [], limits=limits))
            await asyncio.sleep(0)  # in: its module is not compiled yet
            assert gauges(metrics) == (1, 0)
            for _ in range(10_000):  # until the compile is done and the call handed over
                if gauges(metrics) != (1, 0):
                    break
                await asyncio.sleep(0.001)
            assert gauges(metrics) == (0, 1)
            with pytest.raises(ExecutionTimeout):
                await spinning
            assert gauges(metrics) == (0, 0)
