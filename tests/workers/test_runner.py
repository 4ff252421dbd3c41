"""The Runner: outcomes, bounded admission, single-flight compiles, eviction, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fixtures import wasm
from tests.storage.builders import fixture_record as record
from wess.errors import (
    ExecutionTimeout,
    FunctionNotFound,
    InvalidArguments,
    InvalidRequest,
    Overloaded,
    Trap,
    UnknownImport,
)
from wess.messages import ChangeKind, ModuleChanged
from wess.observability.metrics import Metrics
from wess.runtime import Limits, Runtime
from wess.workers.outcome import RunOutcome
from wess.workers.runner import Runner


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value if value is not None else 0.0


def compiles(metrics: Metrics) -> float:
    return sample(metrics, "wess_compile_duration_seconds_count")


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    with Runtime(limits=Limits(timeout_ms=2000)) as rt:
        yield rt


@pytest.fixture
async def runner(runtime: Runtime, metrics: Metrics) -> AsyncIterator[Runner]:
    async with Runner(runtime, metrics=metrics, workers=2, max_pending=4) as started:
        yield started


async def wait_until_idle(runner: Runner) -> None:
    """Poll until every guest thread has finished (their slots free from the pool)."""
    for _ in range(1000):
        if not runner.pending:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the runner never became idle")


async def test_outcome_fields(runner: Runner) -> None:
    """A run returns its JSON-safe results, the function, the duration and no fuel or
    output when unmetered and silent."""
    outcome = await runner.run(record("sum"), "sum", [1, 2])
    assert isinstance(outcome, RunOutcome)
    assert (outcome.results, outcome.function, outcome.fuel_used) == ([3], "sum", None)
    assert outcome.duration_us >= 0
    assert (outcome.stdout, outcome.stderr, outcome.output_truncated) == (b"", b"", False)


async def test_outcome_with_fuel_and_output(runner: Runner, runtime: Runtime) -> None:
    """Fuel used is reported under a fuel limit; WASI output and truncation come back."""
    metered = await runner.run(
        record("sum"), "sum", [1, 2], limits=runtime.limits.narrowed(fuel=1000)
    )
    assert metered.fuel_used is not None
    assert metered.fuel_used > 0
    loud = await runner.run(
        record("wasi_io"), "shout", [1, 4], limits=runtime.limits.narrowed(max_output=20)
    )
    assert loud.stdout == b"0123456789abcdef0123"
    assert loud.output_truncated is True


async def test_limits_above_the_runtime_are_refused(runner: Runner) -> None:
    """Limits passed to run may only lower the runtime's: higher ones raise
    InvalidRequest."""
    with pytest.raises(InvalidRequest, match="timeout_ms may only be lowered"):
        await runner.run(record("sum"), "sum", [1, 2], limits=Limits(timeout_ms=60_000))


async def test_errors_are_raised_and_counted(runner: Runner, metrics: Metrics) -> None:
    """Guest failures raise and are counted by outcome; argument and name errors raise
    before anything runs."""
    with pytest.raises(Trap):
        await runner.run(record("traps"), "unreachable", [])
    with pytest.raises(FunctionNotFound):
        await runner.run(record("traps"), "nope", [])
    with pytest.raises(InvalidArguments):
        await runner.run(record("sum"), "sum", [1])
    await runner.run(record("sum"), "sum", [1, 1])
    assert sample(metrics, "wess_execution_duration_seconds_count", outcome="trap") == 1
    assert sample(metrics, "wess_execution_duration_seconds_count", outcome="ok") == 1
    assert sample(metrics, "wess_execution_duration_seconds_count", outcome="trap") == 1
    assert runner.pending == 0


async def test_overloaded_when_full(runtime: Runtime, metrics: Metrics) -> None:
    """With max_pending invocations in, the next is refused at once with Overloaded and
    counted; the queue depth gauge follows."""
    async with Runner(runtime, metrics=metrics, workers=1, max_pending=1) as runner:
        spinning = asyncio.create_task(
            runner.run(record("traps"), "spin", [], limits=runtime.limits.narrowed(timeout_ms=300))
        )
        await asyncio.sleep(0)  # the task takes its slot before its first await
        assert runner.pending == 1
        assert sample(metrics, "wess_queue_depth", queue="runner") == 1
        with pytest.raises(Overloaded) as caught:
            await runner.run(record("sum"), "sum", [1, 2])
        assert caught.value.retry_after == 1
        assert sample(metrics, "wess_queue_rejections_total", queue="runner") == 1
        with pytest.raises(ExecutionTimeout, match="time limit"):
            await spinning
        assert sample(metrics, "wess_queue_depth", queue="runner") == 0
        assert (await runner.run(record("sum"), "sum", [1, 2])).results == [3]


async def test_a_cancelled_run_holds_its_slot_until_the_guest_stops(
    runtime: Runtime, metrics: Metrics
) -> None:
    """Cancelling the caller does not free the slot while the guest still runs, so the
    bound counts what really runs."""
    async with Runner(runtime, metrics=metrics, workers=1, max_pending=1) as runner:
        # compiled, so the run goes straight to the pool
        await runner.analyze(wasm("traps"), namespace="default")
        spinning = asyncio.create_task(
            runner.run(record("traps"), "spin", [], limits=runtime.limits.narrowed(timeout_ms=200))
        )
        await asyncio.sleep(0.05)  # compiled and spinning by now; no timing is asserted
        spinning.cancel()
        with pytest.raises(asyncio.CancelledError):
            await spinning
        with pytest.raises(Overloaded):
            await runner.run(record("sum"), "sum", [1, 2])
        await wait_until_idle(runner)
        assert (await runner.run(record("sum"), "sum", [1, 2])).results == [3]


async def test_first_calls_share_one_compile(runner: Runner, metrics: Metrics) -> None:
    """Concurrent first calls of a module not yet compiled compile it once."""
    module = record("numbers")
    outcomes = await asyncio.gather(*(runner.run(module, "id_i32", [i]) for i in range(4)))
    assert [o.results for o in outcomes] == [[0], [1], [2], [3]]
    assert compiles(metrics) == 1
    assert sample(metrics, "wess_cache_misses_total", cache="compiled") == 1
    await runner.run(module, "id_i32", [9])
    assert compiles(metrics) == 1
    assert sample(metrics, "wess_cache_hits_total", cache="compiled") >= 1
    assert sample(metrics, "wess_cache_entries", cache="compiled") == 1
    assert sample(metrics, "wess_cache_bytes", cache="compiled") > 0


async def test_a_failed_compile_reaches_every_waiter(runner: Runner) -> None:
    """When the shared compile fails, every caller waiting for it gets the error."""
    module = record("bad", wasm_bytes=wasm("bad_import"))
    results = await asyncio.gather(
        *(runner.run(module, "f", []) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, UnknownImport) for r in results)


async def test_module_changed_evicts_the_previous_digest(
    runner: Runner, runtime: Runtime, metrics: Metrics
) -> None:
    """A ModuleChanged event drops the compiled module it replaced; the next call
    compiles again."""
    module = record("sum")
    await runner.run(module, "sum", [1, 2])
    event = ModuleChanged(
        change=ChangeKind.UPDATED,
        module_id=module.id,
        namespace="default",
        revision=2,
        digest="sha256:other",
        previous_digest=module.digest,
    )
    runner.on_module_changed(event)
    assert runtime.cached(module.digest) is None
    assert sample(metrics, "wess_cache_evictions_total", cache="compiled") == 1
    await runner.run(module, "sum", [1, 2])
    assert compiles(metrics) == 2


async def test_events_that_replace_nothing_evict_nothing(runner: Runner, runtime: Runtime) -> None:
    """A create (no previous digest) or an update to identical bytes keeps the cache."""
    module = record("sum")
    await runner.run(module, "sum", [1, 2])
    for previous in (None, module.digest):
        runner.on_module_changed(
            ModuleChanged(
                change=ChangeKind.UPDATED,
                module_id=module.id,
                namespace="default",
                revision=2,
                digest=module.digest,
                previous_digest=previous,
            )
        )
    assert runtime.cached(module.digest) is not None


async def test_analyze_in_the_compile_pool(runner: Runner, metrics: Metrics) -> None:
    """analyze returns the catalogue, refuses bad imports, and caches the compile."""
    analysis = await runner.analyze(wasm("sum"), namespace="default")
    assert [f.name for f in analysis.functions] == ["sum"]
    with pytest.raises(UnknownImport, match=r"host\.launch_missiles"):
        await runner.analyze(wasm("bad_import"), namespace="default")
    await runner.run(record("sum"), "sum", [1, 2])
    assert compiles(metrics) == 1


async def test_not_running_outside_its_context(runtime: Runtime, metrics: Metrics) -> None:
    """A Runner only runs between __aenter__ and __aexit__."""
    runner = Runner(runtime, metrics=metrics)
    assert not runner.running
    with pytest.raises(RuntimeError, match="not running"):
        await runner.run(record("sum"), "sum", [1, 2])
    async with runner:
        assert runner.running
    assert not runner.running


async def test_metrics_stop_after_exit(runtime: Runtime, metrics: Metrics) -> None:
    """Leaving the Runner detaches its metrics from the runtime."""
    async with Runner(runtime, metrics=metrics):
        pass
    runtime.load(wasm("counter"))
    assert compiles(metrics) == 0
