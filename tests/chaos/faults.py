"""``FaultyStore``: a real store whose reads or writes fail, slow down or hang on demand.

A failing disk or database shows three faces: errors, latency and calls that never
return. The wrapper gives each to the reads or the writes of any ``Store`` (the whole
store: every concept's methods, ``commit``, ``transact``, ``ping``), so the suite can
watch the breakers, retries, bulkheads and the Reader's cache deal with them, then heal
the store and watch Wess recover without a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from wess.storage.base import Change, Store, Transaction
from wess.storage.wrapping import CHANGING_OPS, WrappedStore

READS = "reads"
WRITES = "writes"


@dataclass
class Fault:
    """What calls of one kind meet: an ``error`` raised, a ``delay`` in seconds, or a
    ``hang`` until the fault is healed."""

    error: Exception | None = None
    delay: float = 0.0
    hang: bool = False


class FaultyStore(WrappedStore):
    """Delegates to ``inner`` through the fault set for the call's kind (reads/writes)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner, self._around)
        self.faults: dict[str, Fault] = {}
        self.calls = {READS: 0, WRITES: 0}
        self._healed = asyncio.Event()

    def inject(self, kind: str, fault: Fault) -> None:
        if fault.hang and self._healed.is_set():
            self._healed = asyncio.Event()
        self.faults[kind] = fault

    def heal(self) -> None:
        """Every fault gone; hung calls go on to the inner store."""
        self.faults.clear()
        self._healed.set()

    async def _meet(self, kind: str) -> None:
        self.calls[kind] += 1
        fault = self.faults.get(kind)
        if fault is None:
            return
        if fault.hang:
            await self._healed.wait()
            return
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.error is not None:
            raise fault.error

    async def _around(self, op: str, call: Callable[[], Awaitable[Any]], args: Any) -> Any:
        await self._meet(WRITES if op in CHANGING_OPS else READS)
        return await call()

    async def commit(self, changes: Sequence[Change]) -> None:
        await self._meet(WRITES)
        await self.inner.commit(changes)

    async def transact(self, work: Transaction) -> None:
        await self._meet(WRITES)
        await self.inner.transact(work)

    async def ping(self) -> None:
        await self._meet(READS)
        await self.inner.ping()

    async def aclose(self) -> None:
        self.heal()
        await self.inner.aclose()


def faulty_opener(opened: list[FaultyStore]) -> Callable[..., Any]:
    """A stand-in for ``wess.storage.open_store`` that wraps each store it opens in a
    ``FaultyStore`` and keeps it in ``opened`` for the test to disturb."""
    from wess.storage import open_store

    @asynccontextmanager
    async def open_faulty(url: str, **kwargs: Any) -> AsyncIterator[Store]:
        async with open_store(url, **kwargs) as inner:
            store = FaultyStore(inner)
            opened.append(store)
            yield store

    return open_faulty
