"""Per-module bulkheads: one hot or slow module cannot take every invocation slot.

Each module may have at most ``concurrency`` calls running on the pool; up to
``queue`` more wait their turn (first come, first served); past that a call is
refused at once with ``Overloaded`` and a ``Retry-After``. Compartments exist only
while a module has calls running or waiting, so memory stays bounded by the load.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager

from wess.errors import Overloaded
from wess.workers.deadline import QUEUE, Deadline


class _Compartment:
    __slots__ = ("running", "waiting")

    def __init__(self) -> None:
        self.running = 0
        self.waiting: deque[asyncio.Future[None]] = deque()


class Bulkheads:
    """Admission per key (a module id). Use ``await acquire(key)`` then ``release(key)``."""

    def __init__(self, *, concurrency: int, queue: int) -> None:
        if concurrency < 1 or queue < 0:
            raise ValueError("concurrency must be >= 1 and queue >= 0")
        self._concurrency = concurrency
        self._queue = queue
        self._compartments: dict[Hashable, _Compartment] = {}

    def running(self, key: Hashable) -> int:
        compartment = self._compartments.get(key)
        return compartment.running if compartment else 0

    def waiting(self, key: Hashable) -> int:
        compartment = self._compartments.get(key)
        return len(compartment.waiting) if compartment else 0

    async def acquire(self, key: Hashable, *, deadline: Deadline | None = None) -> None:
        """A slot for ``key``: at once, after the calls ahead of it, or ``Overloaded``;
        a wait lasts at most until ``deadline`` (``DeadlineExceeded``, layer ``queue``)."""
        compartment = self._compartments.get(key)
        if compartment is None:
            compartment = self._compartments[key] = _Compartment()
        if compartment.running < self._concurrency and not compartment.waiting:
            compartment.running += 1
            return
        if len(compartment.waiting) >= self._queue:
            raise Overloaded(
                f"module {key} already has {compartment.running} calls running and "
                f"{len(compartment.waiting)} waiting, the most it may; retry later",
                retry_after=1,
                queue="module",
            )
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        compartment.waiting.append(turn)
        bound: AbstractAsyncContextManager[None] = (
            contextlib.nullcontext() if deadline is None else deadline.bounded(QUEUE)
        )
        async with bound:
            try:
                await turn  # release() hands its slot over: running is already counted
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self.release(key)  # the slot arrived as we gave up: pass it on
                else:
                    compartment.waiting.remove(turn)
                    self._forget_if_idle(key, compartment)
                raise

    def release(self, key: Hashable) -> None:
        """Free a slot of ``key``: the next waiter gets it, else it is returned."""
        compartment = self._compartments[key]
        while compartment.waiting:
            turn = compartment.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        compartment.running -= 1
        self._forget_if_idle(key, compartment)

    def _forget_if_idle(self, key: Hashable, compartment: _Compartment) -> None:
        if compartment.running == 0 and not compartment.waiting:
            del self._compartments[key]
