"""Bulkheads: a per-module cap on running calls, a bounded queue, then 503."""

from __future__ import annotations

import asyncio

import pytest

from tests.storage.builders import fixture_record as record
from wess.errors import ExecutionTimeout, Overloaded
from wess.observability.metrics import Metrics
from wess.runtime import Limits, Runtime
from wess.workers.bulkhead import Bulkheads
from wess.workers.runner import Runner


async def test_calls_beyond_the_cap_wait_their_turn_in_order():
    """With concurrency 2, a third call waits; slots are handed over first come, first served."""
    bulkheads = Bulkheads(concurrency=2, queue=5)
    await bulkheads.acquire("m")
    await bulkheads.acquire("m")
    order: list[int] = []

    async def waiter(n: int) -> None:
        await bulkheads.acquire("m")
        order.append(n)

    tasks = [asyncio.create_task(waiter(n)) for n in (1, 2)]
    await asyncio.sleep(0)
    assert bulkheads.waiting("m") == 2
    assert order == []
    bulkheads.release("m")
    await asyncio.sleep(0)
    assert order == [1]
    bulkheads.release("m")
    await asyncio.gather(*tasks)
    assert order == [1, 2]
    assert bulkheads.running("m") == 2


async def test_a_full_queue_refuses_at_once_with_retry_after():
    """Past concurrency + queue, a call is Overloaded immediately, naming the module."""
    bulkheads = Bulkheads(concurrency=1, queue=1)
    await bulkheads.acquire("hot")
    waiting = asyncio.create_task(bulkheads.acquire("hot"))
    await asyncio.sleep(0)
    with pytest.raises(Overloaded) as refused:
        await bulkheads.acquire("hot")
    assert refused.value.retry_after >= 1
    assert "hot" in refused.value.detail
    bulkheads.release("hot")
    await waiting


async def test_modules_are_isolated_from_each_other():
    """One module at its cap does not delay another module's calls."""
    bulkheads = Bulkheads(concurrency=1, queue=0)
    await bulkheads.acquire("slow")
    with pytest.raises(Overloaded):
        await bulkheads.acquire("slow")
    await asyncio.wait_for(bulkheads.acquire("other"), timeout=1)
    assert bulkheads.running("other") == 1


async def test_a_cancelled_waiter_gives_up_its_place_and_leaks_no_slot():
    """Cancelling a waiting call removes it; releasing then frees the slot entirely."""
    bulkheads = Bulkheads(concurrency=1, queue=2)
    await bulkheads.acquire("m")
    waiter = asyncio.create_task(bulkheads.acquire("m"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bulkheads.waiting("m") == 0
    bulkheads.release("m")
    assert bulkheads.running("m") == 0
    await asyncio.wait_for(bulkheads.acquire("m"), timeout=1)


async def test_a_waiter_cancelled_as_its_slot_arrives_passes_the_slot_on():
    """A slot handed to a waiter that is being cancelled goes to the next one, not lost."""
    bulkheads = Bulkheads(concurrency=1, queue=2)
    await bulkheads.acquire("m")
    first = asyncio.create_task(bulkheads.acquire("m"))
    second = asyncio.create_task(bulkheads.acquire("m"))
    await asyncio.sleep(0)
    bulkheads.release("m")  # hands the slot to `first`...
    first.cancel()  # ...which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, timeout=1)
    assert bulkheads.running("m") == 1
    bulkheads.release("m")
    assert bulkheads.running("m") == 0


async def test_idle_compartments_are_forgotten():
    """Memory stays bounded by the load: no state is kept for idle modules."""
    bulkheads = Bulkheads(concurrency=1, queue=1)
    for n in range(100):
        await bulkheads.acquire(n)
        bulkheads.release(n)
    assert bulkheads._compartments == {}


async def test_the_runner_applies_bulkheads_per_module():
    """Through the Runner: a module at its cap is refused, another module still runs."""
    slow = record("traps")
    other = record("sum")
    with Runtime(limits=Limits(timeout_ms=400)) as runtime:
        async with Runner(
            runtime,
            metrics=Metrics(),
            workers=4,
            inline_fuel=0,
            module_concurrency=1,
            module_queue=0,
        ) as runner:
            spinning = asyncio.create_task(runner.run(slow, "spin", []))
            await asyncio.sleep(0.05)
            with pytest.raises(Overloaded):
                await runner.run(slow, "spin", [])
            assert (await runner.run(other, "sum", [1, 2])).results == [3]
            with pytest.raises(ExecutionTimeout):
                await spinning  # the spinning call ends at its own time limit
