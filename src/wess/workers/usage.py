"""How often each module runs: counted in memory, kept through the Writer in batches.

Counting is one dict update on the run path. Every ``interval`` seconds, and when the
server stops, the counts gathered since the last flush go to the Writer as ONE
``RecordUsage`` job: the store sees one write per interval, never one per call. The
counts decide which modules start warm after a restart (``warmup``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from uuid import UUID

import structlog

from wess.errors import WessError
from wess.messages import RecordUsage
from wess.workers.periodic import PeriodicFlush

logger = structlog.get_logger(__name__)

FLUSH_INTERVAL = 30.0
"""Seconds between flushes: at most this much counting is lost to a crash."""


class UsageCounter(PeriodicFlush):
    """Counts invocations per module and flushes them to ``submit`` (``Writer.submit``).

    Use ``async with``: the flush task runs inside it, and leaving it flushes once more
    (leave it before the Writer stops).
    """

    name = "wess-usage"

    def __init__(
        self,
        submit: Callable[[RecordUsage], Awaitable[object]],
        *,
        interval: float = FLUSH_INTERVAL,
    ) -> None:
        super().__init__(interval=interval)
        self._submit = submit
        self._counts: Counter[UUID] = Counter()

    def count(self, module_id: UUID) -> None:
        """One more invocation of ``module_id``."""
        self._counts[module_id] += 1

    @property
    def pending(self) -> dict[UUID, int]:
        """Counts not yet flushed."""
        return dict(self._counts)

    async def flush(self) -> None:
        """Hand the counts gathered so far to the Writer and wait until they are durable;
        on failure they are kept for the next flush."""
        counts, self._counts = self._counts, Counter()
        if not counts:
            return
        try:
            await self._submit(RecordUsage(counts=tuple(counts.items())))
        except WessError as exc:
            self._counts.update(counts)
            logger.warning("usage counts not stored yet", modules=len(counts), detail=str(exc))
