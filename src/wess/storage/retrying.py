"""``RetryingStore``: any ``Store`` whose reads try again after a transient failure.

**What is retried.** Reads of every concept store (``modules.get``, ``keys.list``,
``audit.head``...), when they fail with ``StorageUnavailable`` (a lost connection, a
busy pool, a closed handle being reopened): with exponential backoff and full jitter
(each wait drawn between 0 and ``initial * 2**n``, capped at ``maximum``), at most
``attempts`` tries in all and never past ``budget`` seconds from the first try. A read
has no effect, so trying it again is always safe. Nothing else is retried: an
``IntegrityError`` (the bytes are damaged: reading them again reads the same damage), a
missing record, a validation or quota error are answers, not failures.

**What is not: every write.** ``commit``, ``transact`` and ``admin.rewrap`` run once.
A commit that failed may have reached the disk all the same (the answer was lost, or
the sync failed after the write), and the changes a commit carries are not all
idempotent: an ``AppendAudit`` applied twice chains a duplicate entry (or is refused,
the head having moved), an ``AddUsage`` counts twice, and a ``PutModule`` planned
against what the store held may overwrite what another node wrote meanwhile. So the
Writer treats a failed commit as of unknown outcome: it fails the batch's jobs
(``storage_unavailable``, 503 with ``Retry-After``: the client, who knows whether its
request is safe to repeat, decides) and reads the audit head and the usage again before
its next batch (``Writer._stale``). ``ping`` is not retried either: readiness reports
what storage does now.

Retries run inside the storage circuit breaker (``BreakerStore``): a read that failed
every attempt is one failure for the breaker, and an open breaker refuses before any
attempt. A request's deadline cancels a retry's wait like any other (the Reader bounds
its store reads by it). Tenacity runs the loop; the first attempt runs bare, so a read
that succeeds costs nothing more than the call. Counted in
``wess_storage_retries_total{op}`` and ``wess_storage_retries_exhausted_total{op}``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from wess.errors import StorageCircuitOpen, StorageUnavailable
from wess.observability.metrics import Metrics
from wess.storage.base import Change, Store, Transaction
from wess.storage.wrapping import CHANGING_OPS, WrappedStore

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How a failed read is tried again (``database.retry_*`` settings)."""

    attempts: int = 3
    """Tries in all, the first included (1: never retry)."""
    initial: float = 0.01
    """Seconds: the first wait is drawn from [0, initial], then doubling."""
    maximum: float = 0.2
    """Seconds: no single wait is longer."""
    budget: float = 1.0
    """Seconds from the first try past which no further try starts."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.initial <= 0 or self.maximum <= 0 or self.budget <= 0:
            raise ValueError("attempts must be >= 1, and initial, maximum and budget > 0")


def transient(error: BaseException) -> bool:
    """Whether a failed read may succeed if tried again: storage unavailable, but not
    a breaker's refusal (which lasts its cool-down)."""
    return isinstance(error, StorageUnavailable) and not isinstance(error, StorageCircuitOpen)


class RetryingStore(WrappedStore):
    """Wraps ``inner``; its reads are retried as the module docstring says. ``clock``,
    ``sleep`` and ``rng`` are injectable: tests retry without waiting, from a seed."""

    def __init__(
        self,
        inner: Store,
        *,
        policy: RetryPolicy,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(inner, self._around)
        self.policy = policy
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311  # jitter, not a secret
        self._retrying = AsyncRetrying(
            sleep=sleep,
            wait=self._wait,
            retry=retry_if_exception(transient),
            reraise=True,
        )

    async def _around(
        self, op: str, call: Callable[[], Awaitable[Any]], args: tuple[Any, ...]
    ) -> Any:
        if op in CHANGING_OPS:
            return await call()
        started = self._clock()
        try:
            return await call()
        except StorageUnavailable as exc:
            if not transient(exc):
                raise
            return await self._again(op, call, exc, started)

    async def _again(
        self, op: str, call: Callable[[], Awaitable[Any]], failed: Exception, started: float
    ) -> Any:
        """Attempts 2.. of a read whose first attempt raised ``failed``: tenacity's first
        attempt raises it again at once, so its counting and waits follow the real tries."""
        first: Exception | None = failed
        policy = self.policy

        async def attempt() -> Any:
            nonlocal first
            if first is not None:
                error, first = first, None
                raise error
            return await call()

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= policy.attempts:
                return True
            return self._clock() - started + (state.upcoming_sleep or 0.0) > policy.budget

        def before_sleep(state: RetryCallState) -> None:
            self._metrics.storage_retries.labels(op=op).inc()
            error = state.outcome.exception() if state.outcome is not None else None
            logger.info(
                "storage read failed; trying again",
                op=op,
                attempt=state.attempt_number,
                wait_ms=round((state.upcoming_sleep or 0.0) * 1000, 1),
                error=str(error),
            )

        try:
            return await self._retrying.copy(stop=stop, before_sleep=before_sleep)(attempt)
        except StorageUnavailable as exc:
            if transient(exc):
                self._metrics.storage_retries_exhausted.labels(op=op).inc()
                logger.warning("storage read failed after its retries", op=op, error=str(exc))
            raise

    def _wait(self, state: RetryCallState) -> float:
        """Full jitter: uniform in [0, initial * 2**(n-1)], capped at ``maximum``."""
        policy = self.policy
        ceiling = min(policy.maximum, policy.initial * 2 ** (state.attempt_number - 1))
        return self._rng.uniform(0.0, ceiling)

    async def commit(self, changes: Sequence[Change]) -> None:
        await self._inner.commit(changes)

    async def transact(self, work: Transaction) -> None:
        await self._inner.transact(work)

    async def ping(self) -> None:
        await self._inner.ping()

    async def aclose(self) -> None:
        await self._inner.aclose()
