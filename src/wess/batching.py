"""Batches: many calls of one function, a few at a time, answered as each completes.

A batch is a list of argument tuples for one function of one module revision
(``service.BoundFunction``). ``run_batch`` keeps at most ``concurrency`` of its calls
in the Runner at once, each going through the invocation pool like any other call (its
namespace's share, its turns, its module's bulkhead), and hands back each call's
outcome, or its error, as soon as it completes: one item's failure never stops the
others. The HTTP layer streams them as NDJSON lines.

A batch never holds more than its namespace's share of the pool (``concurrency_of``),
so it cannot take its own namespace's other calls' queue places from them: a batch
waits for its turns; it is not refused for being large.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from wess.errors import InvalidArguments, WessError
from wess.workers.outcome import RunOutcome

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How large a batch may be, and how many of its calls run at once."""

    max_items: int = 10_000
    max_body: int = 16 << 20
    concurrency: int = 0
    """0: the namespace's share of the invocation pool."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One call of a batch: its position in the request, and its outcome or error."""

    index: int
    outcome: RunOutcome | None = None
    error: BaseException | None = None


Call = Callable[[list[Any]], Awaitable[RunOutcome]]


def concurrency_of(configured: int, share: int) -> int:
    """Calls of one batch in at once: ``configured`` (0: ``share``), at most ``share``."""
    return max(1, min(configured or share, share))


async def run_batch(
    call: Call, items: Iterable[object], *, concurrency: int
) -> AsyncGenerator[list[BatchResult], None]:
    """Run ``call(args)`` for every item of ``items`` (each a JSON array of arguments, or the
    ``WessError`` reading it met),
    at most ``concurrency`` at once, started in order; yield the results that completed
    together (in index order among themselves) as they complete. Closing the iterator
    early cancels the calls still in (a guest already running ends at its own limit)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    numbered = enumerate(items)
    running: set[asyncio.Task[BatchResult]] = set()
    exhausted = False
    try:
        while True:
            while not exhausted and len(running) < concurrency:
                item = next(numbered, None)
                if item is None:
                    exhausted = True
                    break
                running.add(asyncio.ensure_future(_one(call, *item)))
            if not running:
                return
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            yield sorted((task.result() for task in done), key=_index)
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)


def _index(result: BatchResult) -> int:
    return result.index


async def _one(call: Call, index: int, args: object) -> BatchResult:
    if isinstance(args, WessError):  # the item could not be read (a line of bad JSON)
        return BatchResult(index, error=args)
    if not isinstance(args, list):
        error = InvalidArguments(
            f"item {index} is not a JSON array of arguments, like [1, 2]", index=index
        )
        return BatchResult(index, error=error)
    try:
        return BatchResult(index, outcome=await call(args))
    except WessError as exc:
        return BatchResult(index, error=exc)
    except Exception as exc:  # one item's bug never ends the batch; the log has it
        logger.exception("batch item failed unexpectedly", index=index)
        return BatchResult(index, error=exc)
