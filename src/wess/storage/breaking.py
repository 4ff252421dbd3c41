"""``BreakerStore``: any ``Store`` behind two circuit breakers, one for reads, one for writes.

When storage keeps failing (the database is down, the disk is full), every request that
needs it would wait for the same failure. A breaker counts failures in a row
(``StorageUnavailable`` only: an integrity error or a missing record is the store
answering), and after ``database.breaker_failures`` of them refuses at once with
``StorageCircuitOpen`` (503, ``Retry-After`` the seconds left of the cool-down,
``database.breaker_cooldown``). After the cool-down the next call is the probe: if it
succeeds, the breaker closes. Reads that the Reader's cache can answer never reach the
store, so they go on being served while the breaker is open.

Reads and writes have a breaker each because storage can fail one way only: a full
disk refuses every commit while reads still work. Reads (every concept-store read, and
``ping``, so that readiness checks probe it) go through ``reads``; ``commit``,
``transact`` and ``admin.rewrap`` through ``writes``. ``aclose`` goes through neither.
This wrapper sits outside ``RetryingStore``: a read that failed all its attempts is one
failure here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from wess.circuit import CircuitBreaker
from wess.errors import Overloaded, StorageCircuitOpen, StorageUnavailable, WessError
from wess.storage.base import Change, Store, Transaction
from wess.storage.wrapping import CHANGING_OPS, WrappedStore

T = TypeVar("T")

READS = "storage_reads"
WRITES = "storage_writes"


class BreakerStore(WrappedStore):
    """Wraps ``inner``; see the module docstring. ``refused(name)`` hears every call an
    open breaker refused (for ``wess_breaker_rejections_total``)."""

    def __init__(
        self,
        inner: Store,
        *,
        reads: CircuitBreaker,
        writes: CircuitBreaker,
        refused: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(inner, self._around)
        self.reads = reads
        self.writes = writes
        self._refused = refused

    def breakers(self) -> dict[str, CircuitBreaker]:
        """Both breakers by name (``storage_reads``, ``storage_writes``)."""
        return {READS: self.reads, WRITES: self.writes}

    async def _around(
        self, op: str, call: Callable[[], Awaitable[Any]], args: tuple[Any, ...]
    ) -> Any:
        if op in CHANGING_OPS:
            return await self._through(WRITES, self.writes, call)
        return await self._through(READS, self.reads, call)

    async def commit(self, changes: Sequence[Change]) -> None:
        await self._through(WRITES, self.writes, lambda: self._inner.commit(changes))

    async def transact(self, work: Transaction) -> None:
        await self._through(WRITES, self.writes, lambda: self._inner.transact(work))

    async def ping(self) -> None:
        await self._through(READS, self.reads, self._inner.ping)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def _through(
        self, name: str, breaker: CircuitBreaker, call: Callable[[], Awaitable[T]]
    ) -> T:
        if not breaker.allow():
            if self._refused is not None:
                self._refused(name)
            kind = "reads" if name == READS else "writes"
            raise StorageCircuitOpen(
                f"storage {kind} failed {breaker.failures} times in a row; they are "
                f"refused until a probe finds storage back (in {breaker.retry_after()} s)",
                retry_after=breaker.retry_after(),
                breaker=name,
            )
        try:
            result = await call()
        except StorageUnavailable:
            breaker.failure()
            raise
        except Overloaded:  # refused before reaching the store (the storage bulkhead)
            breaker.release()
            raise
        except WessError:  # the store answered (a damaged record, a refused change)
            breaker.success()
            raise
        except BaseException:  # cancelled, or a bug: says nothing about storage
            breaker.release()
            raise
        breaker.success()
        return result
