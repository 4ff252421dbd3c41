"""Deadlines: the budget and its cap, the clock checks, and waits bounded by the time left."""

from __future__ import annotations

import asyncio

import pytest

from wess.errors import DeadlineExceeded
from wess.observability.metrics import Metrics
from wess.testing import FakeClock
from wess.workers.deadline import Deadlines


def policy(clock: FakeClock, default_ms: int = 1000) -> Deadlines:
    return Deadlines(default_ms, metrics=Metrics(), clock=clock.monotonic)


@pytest.mark.parametrize(("asked", "budget"), [(None, 1000), (250, 250), (5000, 1000)])
def test_the_client_may_ask_for_less_never_more(asked, budget):
    """No header: the configured budget; a shorter one: that; a longer one: the cap."""
    clock = FakeClock()
    deadline = policy(clock).start(asked)
    assert deadline.budget_ms == budget
    assert deadline.remaining_ms() == budget


def test_check_names_the_layer_once_the_clock_passes_it():
    """Before the instant nothing is raised; at it, DeadlineExceeded with the layer, the
    budget, and a detail naming both the header and the setting."""
    clock = FakeClock()
    deadline = policy(clock).start(100)
    clock.advance(0.099)
    deadline.check("queue")
    clock.advance(0.001)
    with pytest.raises(DeadlineExceeded) as exceeded:
        deadline.check("queue")
    assert exceeded.value.layer == "queue"
    assert exceeded.value.context["timeout_ms"] == 100
    assert "Request-Timeout-Ms" in exceeded.value.detail
    assert exceeded.value.code == "deadline_exceeded"


async def test_a_wait_with_no_time_left_is_cut_and_cleans_up_first():
    """bounded() cancels a wait that outlives the deadline (here: none left, so at once);
    the block sees the cancellation before the layer's error comes out."""
    deadline = Deadlines(1, metrics=Metrics()).start()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    cleaned = []

    async def wait() -> None:
        async with deadline.bounded("compile"):
            try:
                await never
            except asyncio.CancelledError:
                cleaned.append(True)
                raise

    with pytest.raises(DeadlineExceeded) as exceeded:
        await wait()
    assert exceeded.value.layer == "compile"
    assert cleaned == [True]


async def test_a_timeout_of_the_work_itself_is_not_the_deadline():
    """A TimeoutError the awaited work raises on its own passes through unchanged."""
    deadline = Deadlines(60_000, metrics=Metrics()).start()

    async def times_out() -> None:
        raise TimeoutError("the work's own")

    with pytest.raises(TimeoutError, match="the work's own"):
        await deadline.within(times_out(), "storage")


async def test_within_checks_the_clock_after_work_that_finished_late():
    """Work that finished, but after the (fake) deadline: the layer's error, counted."""
    clock = FakeClock()
    metrics = Metrics()
    deadline = Deadlines(1000, metrics=metrics, clock=clock.monotonic).start()

    async def slow() -> int:
        clock.advance(2)
        return 1

    with pytest.raises(DeadlineExceeded):
        await deadline.within(slow(), "storage")
    counted = {"layer": "storage"}
    assert metrics.registry.get_sample_value("wess_deadline_exceeded_total", counted) == 1


def test_a_budget_below_one_ms_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        Deadlines(0, metrics=Metrics())
