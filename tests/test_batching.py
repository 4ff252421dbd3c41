"""run_batch: bounded concurrency, results as they complete, per-item errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wess.batching import BatchResult, concurrency_of, run_batch
from wess.errors import InvalidArguments, MalformedJson, Trap
from wess.workers.outcome import RunOutcome


def outcome(value: int) -> RunOutcome:
    return RunOutcome(
        results=[value],
        function="f",
        duration_us=1,
        fuel_used=None,
        stdout=b"",
        stderr=b"",
        output_truncated=False,
    )


async def collect(stream: Any) -> list[BatchResult]:
    found: list[BatchResult] = []
    async for group in stream:
        found.extend(group)
    return found


async def test_results_come_with_their_index_and_errors_do_not_stop_the_batch() -> None:
    """Every item answers once, by index; a failing item is its own error."""

    async def call(args: list[Any]) -> RunOutcome:
        if args == [2]:
            raise Trap("boom", kind="unreachable")
        return outcome(args[0] * 10)

    items: list[object] = [[0], [1], [2], "x", MalformedJson("bad line"), [5]]
    results = {r.index: r for r in await collect(run_batch(call, items, concurrency=2))}
    assert sorted(results) == [0, 1, 2, 3, 4, 5]
    assert [results[i].outcome.results for i in (0, 1, 5)] == [[0], [10], [50]]  # type: ignore[union-attr]
    assert isinstance(results[2].error, Trap)
    assert isinstance(results[3].error, InvalidArguments)
    assert isinstance(results[4].error, MalformedJson)


async def test_at_most_concurrency_calls_are_in_and_results_stream_before_the_last_starts() -> None:
    """With later items held at a gate, the first results are yielded already, and no
    more than ``concurrency`` calls are ever in at once."""
    gate = asyncio.Event()
    inside = 0
    most = 0
    started: list[int] = []

    async def call(args: list[Any]) -> RunOutcome:
        nonlocal inside, most
        started.append(args[0])
        inside += 1
        most = max(most, inside)
        try:
            if args[0] >= 5:
                await gate.wait()
            await asyncio.sleep(0)
            return outcome(args[0])
        finally:
            inside -= 1

    stream = run_batch(call, [[i] for i in range(50)], concurrency=3)
    seen: list[int] = []
    while len(seen) < 5:
        seen.extend(r.index for r in await anext(stream))
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert max(started) < 8  # items 5..7 wait at the gate, nothing after them started
    gate.set()
    rest = await collect(stream)
    assert sorted(seen + [r.index for r in rest]) == list(range(50))
    assert most == 3


async def test_closing_the_stream_cancels_the_calls_still_in() -> None:
    """A client that leaves stops the batch: the calls in are cancelled, no more start."""
    cancelled: list[int] = []
    started: list[int] = []

    async def call(args: list[Any]) -> RunOutcome:
        started.append(args[0])
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(args[0])
            raise
        raise AssertionError("unreachable")

    stream = run_batch(call, [[i] for i in range(10)], concurrency=2)
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await stream.aclose()
    assert sorted(cancelled) == [0, 1]
    assert started == [0, 1]


def test_concurrency_never_exceeds_the_namespace_share() -> None:
    """0 means the share; a larger setting is cut to it."""
    assert concurrency_of(0, 4) == 4
    assert concurrency_of(2, 4) == 2
    assert concurrency_of(64, 4) == 4
