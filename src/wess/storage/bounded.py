"""``BoundedStore``: any ``Store`` with at most ``limit`` reads waiting or running at once.

Each backend queues reads without bound behind its own few workers (RocksDB's four
read threads, PostgreSQL's pool of connections): a burst of reads would wait there
longer and longer. This bulkhead counts every concept-store read in flight, whoever
asked (the Reader, the key and audit routes, warm-up, the Writer's start), and refuses
one more at once with ``Overloaded`` (503, ``Retry-After``; ``queue="storage"``), so
storage I/O sheds load instead of growing latency. ``database.max_reads`` sets it; the
Reader's own bound on module reads (``reader.channel_size``) sits above it. Writes are
bounded elsewhere: one Writer commits, fed by a bounded queue (``writer.channel_size``).
Depth and refusals are ``wess_queue_depth{queue="storage"}`` and
``wess_queue_rejections_total{queue="storage"}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from wess.errors import Overloaded
from wess.observability.metrics import Metrics
from wess.storage.base import Change, Store, Transaction
from wess.storage.wrapping import CHANGING_OPS, WrappedStore

QUEUE = "storage"


class BoundedStore(WrappedStore):
    """Wraps ``inner``; see the module docstring."""

    def __init__(self, inner: Store, *, limit: int, metrics: Metrics) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        super().__init__(inner, self._around)
        self.limit = limit
        self._reads = 0
        self._depth = metrics.queue_depth.labels(queue=QUEUE)
        self._rejections = metrics.queue_rejections.labels(queue=QUEUE)

    @property
    def reads(self) -> int:
        """Reads waiting or running now."""
        return self._reads

    async def _around(
        self, op: str, call: Callable[[], Awaitable[Any]], args: tuple[Any, ...]
    ) -> Any:
        if op in CHANGING_OPS:
            return await call()
        if self._reads >= self.limit:
            self._rejections.inc()
            raise Overloaded(
                f"{self._reads} storage reads are waiting or running, the most the store "
                "takes (database.max_reads); retry shortly",
                retry_after=1,
                queue=QUEUE,
            )
        self._reads += 1
        self._depth.set(self._reads)
        try:
            return await call()
        finally:
            self._reads -= 1
            self._depth.set(self._reads)

    async def commit(self, changes: Sequence[Change]) -> None:
        await self._inner.commit(changes)

    async def transact(self, work: Transaction) -> None:
        await self._inner.transact(work)

    async def ping(self) -> None:
        await self._inner.ping()

    async def aclose(self) -> None:
        await self._inner.aclose()
