"""The inline lane: short calls run on the event loop; long ones move to the pool, rerun."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.fixtures import wasm
from tests.storage.builders import fixture_record as record
from wess.errors import Trap
from wess.observability.metrics import Metrics
from wess.runtime import Limits, Runtime
from wess.workers.inline import SKIP_AFTER_MISS, InlineLane
from wess.workers.runner import Runner

BURN_WAT = """
(module
  (func (export "burn") (param i32) (result i32) (local i32)
    (loop $l
      local.get 1 i32.const 1 i32.add local.set 1
      local.get 1 local.get 0 i32.lt_s br_if $l)
    local.get 1))
"""


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    with Runtime(limits=Limits(timeout_ms=5000)) as rt:
        yield rt


def fallbacks(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("wess_inline_fallbacks_total", {})
    return value or 0.0


async def test_short_calls_run_on_the_event_loop_thread(runtime):
    """A call within the inline budget runs on the caller's thread, with its real result."""
    metrics = Metrics()
    lane = InlineLane(100_000, metrics)
    function = runtime.load(wasm("sum")).function("sum")
    seen: list[str] = []

    class ThreadSpy:
        """The function, noting which thread calls it."""

        name = function.name
        call_path = function.call_path

        def invoke_values(self, values, *, limits=None):
            seen.append(threading.current_thread().name)
            return function.invoke_values(values, limits=limits)

    result, _ = lane.attempt("d", ThreadSpy(), [2, 3], runtime.limits)
    assert result.results == [5]
    assert result.fuel_used is None  # the inline budget is not the caller's fuel limit
    assert seen == [threading.current_thread().name]
    assert fallbacks(metrics) == 0


async def test_long_calls_move_to_the_pool_and_get_the_full_limits(runtime):
    """A call past the budget is abandoned inline and rerun on the pool to completion."""
    metrics = Metrics()
    module = record("burn", wasm_bytes=bytes(__import__("wasmtime").wat2wasm(BURN_WAT)))
    async with Runner(runtime, metrics=metrics, inline_fuel=10_000) as runner:
        outcome = await runner.run(module, "burn", [200_000])
    assert outcome.results == [200_000]
    assert fallbacks(metrics) == 1


async def test_a_function_that_missed_skips_the_lane_for_a_while(runtime):
    """After a miss, the next SKIP_AFTER_MISS calls of that function go straight to the pool."""
    metrics = Metrics()
    lane = InlineLane(1_000, metrics)
    burn = runtime.load(bytes(__import__("wasmtime").wat2wasm(BURN_WAT))).function("burn")
    assert lane.attempt("d", burn, [100_000], runtime.limits) is None
    for _ in range(SKIP_AFTER_MISS):
        assert lane.attempt("d", burn, [1], runtime.limits) is None
    result, _ = lane.attempt("d", burn, [1], runtime.limits)
    assert result.results == [1]
    assert fallbacks(metrics) == 1


async def test_the_callers_own_fuel_limit_is_final_inline(runtime):
    """When the caller's fuel is below the budget, running out inline is the answer."""
    metrics = Metrics()
    lane = InlineLane(100_000, metrics)
    burn = runtime.load(bytes(__import__("wasmtime").wat2wasm(BURN_WAT))).function("burn")
    result, _ = lane.attempt("d", burn, [10_000_000], runtime.limits.narrowed(fuel=500))
    assert isinstance(result, Trap)
    assert result.kind == "out_of_fuel"
    metered, _ = lane.attempt("d", burn, [3], runtime.limits.narrowed(fuel=5_000))
    assert 0 < metered.fuel_used <= 5_000  # reported: the caller asked for metering


async def test_a_zero_budget_disables_the_lane(runtime):
    """inline_fuel = 0 sends every call to the pool."""
    lane = InlineLane(0, Metrics())
    function = runtime.load(wasm("sum")).function("sum")
    assert lane.attempt("d", function, [1, 2], runtime.limits) is None


async def test_wasi_functions_always_use_the_pool(runtime):
    """Functions on the documented (WASI) path do host I/O and never run inline."""
    lane = InlineLane(100_000, Metrics())
    hello = runtime.load(wasm("hello_wasi")).function("hello")
    assert hello.call_path == "documented"
    assert lane.attempt("d", hello, [], runtime.limits) is None
