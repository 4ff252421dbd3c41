"""A flush that runs every few seconds and once more on the way out.

Counters kept in memory on the hot path (invocations per module, keys' last use) reach
the store through the Writer in batches: a subclass says what ``flush`` writes; this
class owns the background task's life (``async with``), so leaving it flushes once
more before the Writer stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


async def stop(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task and wait until it has really stopped."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class PeriodicFlush(ABC):
    """Call ``flush`` every ``interval`` seconds inside ``async with``, and at exit."""

    name = "wess-flush"

    def __init__(self, *, interval: float) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        """Seconds between flushes; a new value applies from the next wait (a reload)."""
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def flush(self) -> None:
        """Write what was gathered since the last flush."""

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._flush_periodically(), name=self.name)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await stop(self._task)
        self._task = None
        await self.flush()

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()
