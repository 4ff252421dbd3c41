"""Warm-up: after a start, load the artifacts of the most-invoked modules, in the background.

The server serves from the first moment; meanwhile the ``limit`` modules with the
highest usage counts (``usage``) get their stored artifacts loaded into the compiled
cache, most invoked first, so their first calls skip even the artifact load. Warm-up
never compiles: a module without a usable artifact is skipped and compiles on its first
call, as any other. ``snapshot`` tells ``/readyz`` how far it got; it never makes the
server unready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Literal, TypedDict
from uuid import UUID

import structlog

from wess.errors import WessError
from wess.models import ModuleRecord
from wess.storage import UsageRanking
from wess.workers.periodic import stop

logger = structlog.get_logger(__name__)


class WarmupSnapshot(TypedDict):
    """Progress of the warm-up: ``loaded`` + ``skipped`` of ``total`` modules done."""

    state: Literal["running", "done"]
    loaded: int
    skipped: int
    total: int


class Warmup:
    """Loads the artifacts of the ``limit`` most-invoked modules once, in the background.

    ``most_used`` is ``UsageStore.most_used``, ``fetch`` is ``Reader.get`` and ``prewarm``
    is ``Runner.prewarm``. ``limit=0`` disables it (done at once). Use ``async with``.
    """

    def __init__(
        self,
        *,
        most_used: Callable[[int], Awaitable[UsageRanking]],
        fetch: Callable[[UUID], Awaitable[ModuleRecord]],
        prewarm: Callable[[ModuleRecord], Awaitable[bool]],
        limit: int,
    ) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self._most_used = most_used
        self._fetch = fetch
        self._prewarm = prewarm
        self._limit = limit
        self._state: Literal["running", "done"] = "running" if limit else "done"
        self._loaded = self._skipped = self._total = 0
        self._task: asyncio.Task[None] | None = None
        self._done = asyncio.Event()
        if not limit:
            self._done.set()

    def snapshot(self) -> WarmupSnapshot:
        """Where the warm-up stands now (cheap; for ``/readyz``)."""
        return {
            "state": self._state,
            "loaded": self._loaded,
            "skipped": self._skipped,
            "total": self._total,
        }

    async def wait(self) -> WarmupSnapshot:
        """Wait until the warm-up is done, and say how it went."""
        await self._done.wait()
        return self.snapshot()

    async def __aenter__(self) -> Warmup:
        if self._limit:
            self._task = asyncio.create_task(self._run(), name="wess-warmup")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await stop(self._task)

    async def _run(self) -> None:
        try:
            ranked = await self._most_used(self._limit)
            self._total = len(ranked)
            for module_id, _ in ranked:
                if await self._warm(module_id):
                    self._loaded += 1
                else:
                    self._skipped += 1
        except WessError as exc:
            logger.warning("warm-up stopped early", detail=str(exc))
        finally:
            self._state = "done"
            self._done.set()
        logger.info("warm-up done", loaded=self._loaded, skipped=self._skipped)

    async def _warm(self, module_id: UUID) -> bool:
        try:
            return await self._prewarm(await self._fetch(module_id))
        except WessError as exc:  # deleted meanwhile, unreadable...: it compiles on demand
            logger.info("warm-up skipped a module", module_id=str(module_id), detail=str(exc))
            return False
