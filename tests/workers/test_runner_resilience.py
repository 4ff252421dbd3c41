"""The Runner's resilience: module breakers, deadlines at each of its layers (compile,
queue, execution), and the bound on compiles across namespaces."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from uuid import UUID

import pytest

from tests.fixtures import wasm
from tests.storage.builders import fixture_record as record
from wess.errors import (
    DeadlineExceeded,
    ExecutionTimeout,
    InvalidArguments,
    ModuleCircuitOpen,
    Overloaded,
    Trap,
)
from wess.messages import ChangeKind, ModuleChanged
from wess.models import ModuleRecord, SealedArtifact
from wess.observability.metrics import Metrics
from wess.runtime import Limits, Runtime
from wess.runtime.artifact import ArtifactSealer
from wess.testing import FakeClock
from wess.workers.breakers import ModuleBreakers
from wess.workers.deadline import Deadlines
from wess.workers.loader import ProgramLoader
from wess.workers.runner import Runner


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def invocations(metrics: Metrics) -> float:
    """Calls that ran (every outcome): each is one observation of execution time."""
    return sum(
        sample(metrics, "wess_execution_duration_seconds_count", outcome=outcome)
        for outcome in ("ok", "trap", "timeout", "deadline_exceeded")
    )


async def until(condition: Callable[[], bool]) -> None:
    """Let other tasks and threads run until ``condition`` holds (it will, soon)."""
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    with Runtime(limits=Limits(timeout_ms=2000)) as rt:
        yield rt


@pytest.fixture
async def runner(runtime: Runtime, metrics: Metrics, clock: FakeClock) -> AsyncIterator[Runner]:
    breakers = ModuleBreakers(threshold=2, cooldown=10, metrics=metrics, clock=clock.monotonic)
    async with Runner(
        runtime, metrics=metrics, workers=2, namespace_concurrency=2, breakers=breakers
    ) as started:
        yield started


def changed(module: ModuleRecord) -> ModuleChanged:
    return ModuleChanged(
        change=ChangeKind.UPDATED,
        module_id=module.id,
        namespace=module.info.namespace,
        revision=2,
        digest="sha256:new",
        previous_digest=module.digest,
    )


# -- module breakers --------------------------------------------------------------------------


async def test_a_module_that_keeps_trapping_is_refused_at_once(runner, metrics, clock):
    """Two traps in a row open the module's breaker: the third call is refused before it
    runs (ModuleCircuitOpen, Retry-After the cool-down), counted; another module runs."""
    traps = record("traps")
    for _ in range(2):
        with pytest.raises(Trap):
            await runner.run(traps, "unreachable", [])
    ran = invocations(metrics)
    with pytest.raises(ModuleCircuitOpen) as refused:
        await runner.run(traps, "div", [4, 2])
    assert refused.value.retry_after == 10
    assert refused.value.context["module_id"] == str(traps.id)
    assert invocations(metrics) == ran
    assert sample(metrics, "wess_breaker_rejections_total", breaker="module") == 1
    assert sample(metrics, "wess_module_breakers_open") == 1
    assert (await runner.run(record("sum"), "sum", [1, 2])).results == [3]


async def test_after_the_cooldown_one_good_call_closes_it(runner, metrics, clock):
    """Cool-down over: the next call probes; it works, the breaker is gone (no snapshot)
    and calls flow; a probe that traps opens it again instead."""
    traps = record("traps")
    for _ in range(2):
        with pytest.raises(Trap):
            await runner.run(traps, "unreachable", [])
    clock.advance(10)
    with pytest.raises(Trap):
        await runner.run(traps, "unreachable", [])  # the probe fails
    with pytest.raises(ModuleCircuitOpen):
        await runner.run(traps, "div", [4, 2])
    clock.advance(10)
    assert (await runner.run(traps, "div", [4, 2])).results == [2]
    assert runner.breakers is not None
    assert runner.breakers.snapshot(traps.id) is None
    assert (await runner.run(traps, "div", [6, 2])).results == [3]


async def test_failures_that_are_not_the_module_s_never_open_it(runner, runtime):
    """Bad arguments and an exceeded deadline are no strikes: after many of them, and a
    trap, the module still runs."""
    traps = record("traps")
    for _ in range(3):
        with pytest.raises(InvalidArguments):
            await runner.run(traps, "div", [1])
    with pytest.raises(Trap):
        await runner.run(traps, "unreachable", [])
    deadline = Deadlines(100, metrics=Metrics()).start()
    with pytest.raises(DeadlineExceeded):
        await runner.run(traps, "spin", [], deadline=deadline)
    assert (await runner.run(traps, "div", [4, 2])).results == [2]


async def test_a_new_revision_starts_with_a_fresh_breaker(runner):
    """ModuleChanged forgets the module's breaker: its calls go again at once."""
    traps = record("traps")
    for _ in range(2):
        with pytest.raises(Trap):
            await runner.run(traps, "unreachable", [])
    runner.on_module_changed(changed(traps))
    assert (await runner.run(traps, "div", [4, 2])).results == [2]


async def test_timeouts_count_as_strikes(runtime, metrics, clock):
    """A module that loops to its own time limit twice is refused the third time."""
    breakers = ModuleBreakers(threshold=2, cooldown=10, metrics=metrics, clock=clock.monotonic)
    async with Runner(runtime, metrics=metrics, workers=2, breakers=breakers) as runner:
        traps = record("traps")
        short = runtime.limits.narrowed(timeout_ms=50)
        for _ in range(2):
            with pytest.raises(ExecutionTimeout):
                await runner.run(traps, "spin", [], limits=short)
        with pytest.raises(ModuleCircuitOpen):
            await runner.run(traps, "spin", [], limits=short)


# -- deadlines --------------------------------------------------------------------------------


async def test_the_call_s_time_limit_is_cut_to_the_time_left(runner, metrics, clock):
    """150 ms left of the deadline, a 2 s time limit: the spinning call is stopped by the
    deadline (layer execution), not by its own limit (which would be 'timeout'); the
    outcome is counted as such and is no strike against the module."""
    deadline = Deadlines(150, metrics=metrics, clock=clock.monotonic).start()
    traps = record("traps")
    with pytest.raises(DeadlineExceeded) as exceeded:
        await runner.run(traps, "spin", [], deadline=deadline)
    assert exceeded.value.layer == "execution"
    assert sample(metrics, "wess_deadline_exceeded_total", layer="execution") == 1
    assert sample(metrics, "wess_execution_duration_seconds_count", outcome="timeout") == 0
    assert runner.breakers is not None
    assert runner.breakers.snapshot(traps.id) is None


async def test_a_call_whose_deadline_passed_while_it_waited_never_runs(runtime, metrics, clock):
    """Both threads are held by spinning guests; a call waits for one, and meanwhile the
    (fake) clock passes its deadline: when a thread frees, the call ends as layer queue
    without running (no ok outcome is recorded)."""
    async with Runner(
        runtime, metrics=metrics, workers=2, namespace_concurrency=2, inline_fuel=0
    ) as runner:
        spin = runtime.limits.narrowed(timeout_ms=300)
        traps = record("traps")
        hogs = [asyncio.create_task(runner.run(traps, "spin", [], limits=spin)) for _ in range(2)]
        await until(lambda: runner.invocations.busy == 2)
        deadline = Deadlines(10_000, metrics=metrics, clock=clock.monotonic).start()
        waiting = asyncio.create_task(runner.run(record("sum"), "sum", [1, 2], deadline=deadline))
        await until(lambda: runner.invocations.waiting(traps.info.namespace) > 0)
        clock.advance(11)
        with pytest.raises(DeadlineExceeded) as exceeded:
            await waiting
        assert exceeded.value.layer == "queue"
        for hog in hogs:
            with pytest.raises(ExecutionTimeout):
                await hog
        assert sample(metrics, "wess_execution_duration_seconds_count", outcome="ok") == 0


async def test_a_wait_for_a_thread_is_cut_when_no_time_is_left(runtime, metrics):
    """With the threads held, a call with 1 ms of deadline does not wait for them: the
    queue wait is cancelled by the deadline's timer (layer queue), and its place in line
    is given up."""
    async with Runner(
        runtime, metrics=metrics, workers=1, namespace_concurrency=1, inline_fuel=0
    ) as runner:
        traps, sums = record("traps"), record("sum")
        await runner.run(sums, "sum", [1, 2])  # compiled: only the wait for a thread is left
        spin = runtime.limits.narrowed(timeout_ms=300)
        hog = asyncio.create_task(runner.run(traps, "spin", [], limits=spin))
        await until(lambda: runner.invocations.busy == 1)
        deadline = Deadlines(1, metrics=metrics).start()
        with pytest.raises(DeadlineExceeded) as exceeded:
            await runner.run(sums, "sum", [1, 2], deadline=deadline)
        assert exceeded.value.layer == "queue"
        assert runner.invocations.waiting(traps.info.namespace) == 0
        with pytest.raises(ExecutionTimeout):
            await hog


async def test_a_compile_that_outlives_the_deadline_is_the_compile_layer(runtime, metrics, clock):
    """The module's compile is held (its artifact lookup waits at a gate) while the fake
    clock passes the deadline: the run ends as layer compile; the compile itself goes on
    and serves the next call."""
    gate = asyncio.Event()

    async def held_artifacts(module_id: UUID, digest: str, flavor: str) -> SealedArtifact | None:
        await gate.wait()
        return None

    programs = ProgramLoader(
        runtime,
        metrics=metrics,
        sealer=ArtifactSealer(bytes(32), flavor=runtime.flavor),
        artifacts=held_artifacts,
    )
    async with Runner(runtime, metrics=metrics, workers=2, programs=programs) as runner:
        sums = record("sum")
        deadline = Deadlines(1000, metrics=metrics, clock=clock.monotonic).start()
        running = asyncio.create_task(runner.run(sums, "sum", [1, 2], deadline=deadline))
        await until(lambda: runner.compiles_in > 0)
        clock.advance(2)
        gate.set()
        with pytest.raises(DeadlineExceeded) as exceeded:
            await running
        assert exceeded.value.layer == "compile"
        assert (await runner.run(sums, "sum", [1, 2])).results == [3]


# -- the compile bulkhead ---------------------------------------------------------------------


async def test_compiles_past_the_bound_are_refused_across_namespaces(runtime, metrics):
    """With compile_queue 1 and one upload's check held on its thread, an upload of
    another namespace is refused at once (Overloaded, queue compile), as is a run that
    needs a compile; after the first finishes, uploads go again."""
    release = threading.Event()

    def held_check(module: bytes) -> None:
        release.wait(timeout=10)

    async with Runner(runtime, metrics=metrics, workers=2, compile_queue=1) as runner:
        first = asyncio.create_task(runner.prepare(wasm("sum"), namespace="a", check=held_check))
        await until(lambda: runner.compiles_in > 0)
        with pytest.raises(Overloaded) as refused:
            await runner.prepare(wasm("numbers"), namespace="b")
        assert refused.value.context["queue"] == "compile"
        with pytest.raises(Overloaded):
            await runner.run(record("numbers"), "id_i32", [1])
        assert sample(metrics, "wess_queue_rejections_total", queue="compile") == 2
        assert sample(metrics, "wess_queue_depth", queue="compile") == 1
        release.set()
        await first
        assert runner.compiles_in == 0
        await runner.prepare(wasm("numbers"), namespace="b")
