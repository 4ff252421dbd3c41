"""Asynchronous invocations: accepted at once, kept durably, run by the pool, kept a while.

``POST /v1/modules/{id}/invocations`` lands here (``submit``): the module and function
are checked, the invocation is written to the invocation store (durable before the
202 is sent, so it survives a kill -9) and the worker is woken. The worker (``poll``,
looped while the server runs) prunes finished invocations past their retention, claims
due ones up to its free capacity under a lease (renewed while they run, so another
node takes them only once this one stops renewing), runs each through the service like
a synchronous run (its namespace's share of the pool, its deadline), and settles it:

- success: ``succeeded`` with the run's answer;
- an error whose code the caller named retryable (``retry.on``) with attempts left:
  ``queued`` again, ``not_before`` an exponential backoff away;
- the same on the last attempt: ``dead`` (the dead-letter state), with the error;
- any other error: ``failed``, with the error.

Finished invocations expire ``retention`` after they finish. Time comes from the
``clock`` given, so the tests drive retries, leases and pruning with a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from types import TracebackType
from typing import Any
from uuid import UUID, uuid4

import structlog

from wess.errors import InvalidRequest, InvocationNotFound, WessError
from wess.runtime.reasons import listed_sorted
from wess.service import ModuleService, RunLimits
from wess.storage.invocations import InvocationRecord as InvocationRecord  # for the API
from wess.storage.invocations import InvocationState as InvocationState
from wess.storage.invocations import InvocationStore
from wess.workers.outcome import RunOutcome

logger = structlog.get_logger(__name__)

RETRYABLE = frozenset(
    {
        "trap",
        "timeout",
        "memory_limit_exceeded",
        "execution_error",
        "deadline_exceeded",
        "overloaded",
        "namespace_busy",
        "module_circuit_open",
        "storage_unavailable",
        "storage_circuit_open",
    }
)
"""The error codes a caller may mark retryable (``retry.on``): failures of one attempt
that another may not meet. Bad arguments or a missing module fail the same every time."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often an invocation is tried, and after which errors."""

    attempts: int = 1
    on: tuple[str, ...] = ()

    def check(self, *, max_attempts: int) -> None:
        if not 1 <= self.attempts <= max_attempts:
            raise InvalidRequest(
                f"retry.attempts must be from 1 to {max_attempts}", field="retry.attempts"
            )
        unknown = set(self.on) - RETRYABLE
        if unknown:
            raise InvalidRequest(
                f"retry.on names error codes that are not retryable: {listed_sorted(unknown)}; "
                f"allowed: {', '.join(sorted(RETRYABLE))}",
                field="retry.on",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class InvocationSettings:
    """The worker's settings (``invocations.*`` in the configuration), in seconds."""

    retention: float = 86_400.0
    lease: float = 30.0
    poll: float = 0.5
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    concurrency: int = 4
    max_attempts: int = 10
    prune_batch: int = 256


def backoff(attempts: int, settings: InvocationSettings) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling from
    ``backoff_initial``, at most ``backoff_max``."""
    return float(min(settings.backoff_initial * 2 ** max(0, attempts - 1), settings.backoff_max))


def outcome_document(outcome: RunOutcome) -> dict[str, Any]:
    """A successful attempt's answer, as a synchronous run answers it."""
    document: dict[str, Any] = {
        "results": outcome.results,
        "function": outcome.function,
        "duration_us": outcome.duration_us,
    }
    if outcome.fuel_used is not None:
        document["fuel_used"] = outcome.fuel_used
    if outcome.stdout:
        document["stdout"] = outcome.stdout.decode("utf-8", errors="replace")
    if outcome.stderr:
        document["stderr"] = outcome.stderr.decode("utf-8", errors="replace")
    if outcome.output_truncated:
        document["output_truncated"] = True
    return document


def settled(
    record: InvocationRecord,
    *,
    now: datetime,
    settings: InvocationSettings,
    outcome: RunOutcome | None = None,
    error: WessError | None = None,
) -> InvocationRecord:
    """What an attempt's end makes of ``record`` (the rules of the module docstring)."""
    done: dict[str, Any] = {"lease_owner": None, "lease_until": None, "updated_at": now}
    keep = now + timedelta(seconds=settings.retention)
    if error is None:
        assert outcome is not None
        return replace(
            record,
            state=InvocationState.SUCCEEDED,
            result=outcome_document(outcome),
            error=None,
            expires_at=keep,
            **done,
        )
    problem = {"code": error.code, "detail": error.detail}
    if error.code in record.retry_on:
        if record.attempts < record.max_attempts:
            wait = timedelta(seconds=backoff(record.attempts, settings))
            return replace(
                record, state=InvocationState.QUEUED, not_before=now + wait, error=problem, **done
            )
        return replace(record, state=InvocationState.DEAD, error=problem, expires_at=keep, **done)
    return replace(record, state=InvocationState.FAILED, error=problem, expires_at=keep, **done)


class AsyncInvocations:
    """Accepts, runs and answers asynchronous invocations. ``async with`` runs the worker
    loop; ``poll`` is one round of it (what tests call, with a fake clock)."""

    def __init__(
        self,
        store: InvocationStore,
        service: ModuleService,
        *,
        node: str,
        clock: Callable[[], datetime],
        settings: InvocationSettings | None = None,
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self._store = store
        self._service = service
        self._node = node
        self._clock = clock
        self.settings = settings or InvocationSettings()
        self._new_id = new_id
        self._running: dict[UUID, asyncio.Task[None]] = {}
        self._held: dict[UUID, InvocationRecord] = {}  # claimed here, not settled yet
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._renewed: datetime | None = None

    async def __aenter__(self) -> AsyncInvocations:
        self._loop = asyncio.ensure_future(self._serve())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop taking work; what is running is cut short and queued again at once
        (its interrupted attempt counted), for this node after a restart or another
        now. Should that fail too, its lease ends and it is taken again then."""
        held = dict(self._held)
        tasks = [task for task in (self._loop, *self._running.values()) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loop = None
        now = self._clock()
        for record in held.values():
            again = replace(
                record,
                state=InvocationState.QUEUED,
                lease_owner=None,
                lease_until=None,
                not_before=now,
                updated_at=now,
            )
            with contextlib.suppress(WessError):
                await self._store.settle(again, node=self._node)

    @property
    def running(self) -> int:
        """Invocations this node runs now."""
        return len(self._running)

    # -- the API's side -----------------------------------------------------------------------

    async def submit(
        self,
        module_id: UUID,
        *,
        namespace: str | None,
        function: str | None,
        args: Sequence[Any],
        limits: RunLimits | None = None,
        retry: RetryPolicy = RetryPolicy(),
        idempotency_key: str | None = None,
    ) -> tuple[InvocationRecord, bool]:
        """Queue one call of ``function`` of the module; the invocation, and whether it
        is new (False: ``idempotency_key`` named an earlier one of the namespace). It is
        durable when this returns. ``ModuleNotFound``/``FunctionNotFound`` at once."""
        retry.check(max_attempts=self.settings.max_attempts)
        bound = await self._service.bind(
            module_id, namespace=namespace, function=function, limits=limits
        )
        now = self._clock()
        record = InvocationRecord(
            id=self._new_id(),
            namespace=bound.namespace,
            module_id=module_id,
            function=bound.function,
            args=tuple(args),
            limits=dict(limits.asked) if limits is not None else {},
            max_attempts=retry.attempts,
            retry_on=tuple(sorted(set(retry.on))),
            idempotency_key=idempotency_key,
            created_at=now,
            updated_at=now,
            not_before=now,
        )
        stored = await self._store.create(record)
        self._wake.set()
        return stored, stored.id == record.id

    async def get(self, invocation_id: UUID, *, namespace: str | None) -> InvocationRecord:
        """The invocation, if ``namespace`` (None: any) holds it; else not found."""
        record = await self._store.get(invocation_id)
        if record is None or (namespace is not None and record.namespace != namespace):
            raise InvocationNotFound(f"no invocation {invocation_id}")
        return record

    # -- the worker ---------------------------------------------------------------------------

    async def poll(self) -> list[InvocationRecord]:
        """One round: prune, renew the leases held, claim what is due up to the free
        capacity and start running it. Answers what it claimed."""
        settings = self.settings
        now = self._clock()
        await self._store.prune(now=now, limit=settings.prune_batch)
        lease = timedelta(seconds=settings.lease)
        if self._running and (self._renewed is None or now - self._renewed >= lease / 3):
            await self._store.renew(list(self._running), node=self._node, lease_until=now + lease)
            self._renewed = now
        free = settings.concurrency - len(self._running)
        if free <= 0:
            return []
        claimed = await self._store.claim(
            node=self._node, now=now, lease_until=now + lease, limit=free
        )
        for record in claimed:
            task = asyncio.ensure_future(self._attempt(record))
            self._running[record.id] = task
            self._held[record.id] = record
            task.add_done_callback(partial(self._ended, record.id))
        return claimed

    def _ended(self, invocation_id: UUID, _: asyncio.Task[None]) -> None:
        self._running.pop(invocation_id, None)

    async def drain(self) -> None:
        """Wait for the attempts running now to end (tests)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _serve(self) -> None:
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # storage down: try again next round
                logger.exception("polling the invocation queue failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll)

    async def _attempt(self, record: InvocationRecord) -> None:
        outcome: RunOutcome | None = None
        error: WessError | None = None
        try:
            limits = RunLimits(record.limits) if record.limits else None
            bound = await self._service.bind(
                record.module_id,
                namespace=record.namespace,
                function=record.function,
                limits=limits,
            )
            outcome = await self._service.call(bound, list(record.args))
        except WessError as exc:
            error = exc
        except Exception as exc:
            logger.exception("an invocation failed unexpectedly", invocation_id=str(record.id))
            error = WessError(f"the invocation failed unexpectedly: {type(exc).__name__}")
        result = settled(
            record, now=self._clock(), settings=self.settings, outcome=outcome, error=error
        )
        try:
            applied = await self._store.settle(result, node=self._node)
            self._held.pop(record.id, None)
        except WessError:
            logger.exception("settling an invocation failed", invocation_id=str(record.id))
            return  # its lease runs out and it is taken again
        if not applied:
            logger.warning("an invocation's lease was lost before it ended", id=str(record.id))
        if result.state is InvocationState.QUEUED:
            self._wake.set()


def parse_retry(raw: Any) -> RetryPolicy:
    """``{"attempts": 3, "on": ["timeout", "trap"]}`` (both optional) -> RetryPolicy."""
    if raw is None:
        return RetryPolicy()
    if not isinstance(raw, dict) or raw.keys() - {"attempts", "on"}:
        raise InvalidRequest(
            'retry must be an object like {"attempts": 3, "on": ["timeout", "trap"]}',
            field="retry",
        )
    attempts = raw.get("attempts", 1)
    on = raw.get("on", [])
    if type(attempts) is not int:
        raise InvalidRequest("retry.attempts must be a whole number", field="retry.attempts")
    if not isinstance(on, list) or not all(isinstance(code, str) for code in on):
        raise InvalidRequest("retry.on must be a list of error codes", field="retry.on")
    return RetryPolicy(attempts=attempts, on=tuple(on))
