"""The invocation store: asynchronous invocations, queued, leased, settled and pruned.

An invocation is kept as one ``InvocationRecord`` and moves through these states:

    queued ──claim──▶ running ──settle──▶ succeeded | failed | dead
      ▲                 │
      └────settle───────┘  (a retryable failure with attempts left, after a backoff)
    running, lease expired ──claim──▶ running (another node, or this one after a restart)

Unlike modules, keys and audit entries, invocations do not go through the Writer's
group commit: each transition is one small atomic operation of this store, durable
when it returns, that compares what it changes (a claim takes only what is due; a
settle applies only while the node still holds the lease). A store one process owns
(memory, RocksDB) does that under its one write thread; PostgreSQL with row locks
(``FOR UPDATE SKIP LOCKED``), so several nodes take work from one queue and never the
same invocation at once. A node that dies holding a lease loses it when
``lease_until`` passes: the next claim, on any node, takes the invocation again (at
least once: a call cut short by a crash runs again).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import orjson

from wess.errors import StorageError

RECORD_VERSION = 1


class InvocationState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    """Failed with a retryable error on its last attempt (the dead-letter state)."""


FINISHED = frozenset({InvocationState.SUCCEEDED, InvocationState.FAILED, InvocationState.DEAD})


@dataclass(frozen=True, slots=True, kw_only=True)
class InvocationRecord:
    """One asynchronous invocation: what to run, how to retry it, where it stands."""

    id: UUID
    namespace: str
    module_id: UUID
    function: str | None
    args: tuple[Any, ...]
    limits: dict[str, int] = field(default_factory=dict)
    max_attempts: int = 1
    retry_on: tuple[str, ...] = ()
    idempotency_key: str | None = None
    state: InvocationState = InvocationState.QUEUED
    attempts: int = 0
    """Attempts started (each claim starts one)."""
    created_at: datetime
    updated_at: datetime
    not_before: datetime
    """When a queued invocation may be claimed (its retry's backoff ends)."""
    lease_owner: str | None = None
    lease_until: datetime | None = None
    result: dict[str, Any] | None = None
    """The run's answer (as ``POST /run`` answers it) once succeeded."""
    error: dict[str, Any] | None = None
    """The last attempt's error (``code``, ``status``, ``detail``)."""
    expires_at: datetime | None = None
    """When a finished invocation is pruned."""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def due(self) -> datetime | None:
        """When a claim may take it: ``not_before`` while queued, the lease's end while
        running, never once finished."""
        if self.state is InvocationState.QUEUED:
            return self.not_before
        if self.state is InvocationState.RUNNING:
            return self.lease_until
        return None

    def claimed(self, *, node: str, lease_until: datetime, now: datetime) -> InvocationRecord:
        """This invocation taken by ``node`` for one more attempt."""
        return replace(
            self,
            state=InvocationState.RUNNING,
            attempts=self.attempts + 1,
            lease_owner=node,
            lease_until=lease_until,
            updated_at=now,
        )

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "v": RECORD_VERSION,
                "id": str(self.id),
                "namespace": self.namespace,
                "module_id": str(self.module_id),
                "function": self.function,
                "args": list(self.args),
                "limits": self.limits,
                "max_attempts": self.max_attempts,
                "retry_on": list(self.retry_on),
                "idempotency_key": self.idempotency_key,
                "state": self.state.value,
                "attempts": self.attempts,
                "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat(),
                "not_before": self.not_before.isoformat(),
                "lease_owner": self.lease_owner,
                "lease_until": _iso(self.lease_until),
                "result": self.result,
                "error": self.error,
                "expires_at": _iso(self.expires_at),
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> InvocationRecord:
        document = orjson.loads(raw)
        if document.get("v") != RECORD_VERSION:
            raise StorageError(f"an invocation record of unknown version {document.get('v')!r}")
        return cls(
            id=UUID(document["id"]),
            namespace=document["namespace"],
            module_id=UUID(document["module_id"]),
            function=document["function"],
            args=tuple(document["args"]),
            limits=dict(document["limits"]),
            max_attempts=document["max_attempts"],
            retry_on=tuple(document["retry_on"]),
            idempotency_key=document["idempotency_key"],
            state=InvocationState(document["state"]),
            attempts=document["attempts"],
            created_at=datetime.fromisoformat(document["created_at"]),
            updated_at=datetime.fromisoformat(document["updated_at"]),
            not_before=datetime.fromisoformat(document["not_before"]),
            lease_owner=document["lease_owner"],
            lease_until=_when(document["lease_until"]),
            result=document["result"],
            error=document["error"],
            expires_at=_when(document["expires_at"]),
        )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def micros(moment: datetime) -> int:
    """Microseconds since the epoch: an instant as a sortable whole number."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def settles(current: InvocationRecord | None, settled: InvocationRecord, node: str) -> bool:
    """Whether ``node`` may replace ``current`` with ``settled``: it still holds the
    lease of the attempt ``settled`` ends."""
    return (
        current is not None
        and current.state is InvocationState.RUNNING
        and current.lease_owner == node
        and current.attempts == settled.attempts
    )


@runtime_checkable
class InvocationStore(Protocol):
    """Where asynchronous invocations wait, run and are kept until pruned. Every method
    is atomic and durable when it returns."""

    async def create(self, record: InvocationRecord) -> InvocationRecord:
        """Keep ``record``; when it has an idempotency key that its namespace already
        used, keep nothing and answer the invocation that key made."""
        ...

    async def get(self, invocation_id: UUID) -> InvocationRecord | None: ...

    async def claim(
        self, *, node: str, now: datetime, lease_until: datetime, limit: int
    ) -> builtins.list[InvocationRecord]:
        """Up to ``limit`` invocations due at ``now`` (queued past their ``not_before``,
        or running with a lease that ended), earliest first, each ``claimed`` by
        ``node`` until ``lease_until``. No two claims take the same one."""
        ...

    async def renew(
        self, invocation_ids: builtins.list[UUID], *, node: str, lease_until: datetime
    ) -> None:
        """Extend the leases ``node`` still holds on these to ``lease_until``."""
        ...

    async def settle(self, record: InvocationRecord, *, node: str) -> bool:
        """Replace the stored invocation with ``record`` (its outcome, or queued again
        for a retry) if ``settles`` allows ``node`` to; False, changing nothing,
        otherwise."""
        ...

    async def prune(self, *, now: datetime, limit: int) -> int:
        """Remove up to ``limit`` finished invocations whose ``expires_at`` passed."""
        ...


class MemoryInvocations:
    """The ``InvocationStore`` of a memory store: dicts, atomic on the event loop."""

    def __init__(self) -> None:
        self._records: dict[UUID, bytes] = {}
        self._keys: dict[tuple[str, str], UUID] = {}

    async def create(self, record: InvocationRecord) -> InvocationRecord:
        if record.idempotency_key is not None:
            key = (record.namespace, record.idempotency_key)
            known = self._keys.get(key)
            if known is not None and known in self._records:
                return InvocationRecord.decode(self._records[known])
            self._keys[key] = record.id
        self._records[record.id] = record.encode()
        return record

    async def get(self, invocation_id: UUID) -> InvocationRecord | None:
        raw = self._records.get(invocation_id)
        return None if raw is None else InvocationRecord.decode(raw)

    async def claim(
        self, *, node: str, now: datetime, lease_until: datetime, limit: int
    ) -> builtins.list[InvocationRecord]:
        records = [InvocationRecord.decode(raw) for raw in self._records.values()]
        due = sorted(
            (r for r in records if r.due is not None and r.due <= now),
            key=lambda r: (r.due, r.created_at),
        )
        claimed = [r.claimed(node=node, lease_until=lease_until, now=now) for r in due[:limit]]
        for record in claimed:
            self._records[record.id] = record.encode()
        return claimed

    async def renew(
        self, invocation_ids: builtins.list[UUID], *, node: str, lease_until: datetime
    ) -> None:
        for invocation_id in invocation_ids:
            current = await self.get(invocation_id)
            if current is not None and current.lease_owner == node and not current.finished:
                self._records[invocation_id] = replace(current, lease_until=lease_until).encode()

    async def settle(self, record: InvocationRecord, *, node: str) -> bool:
        if not settles(await self.get(record.id), record, node):
            return False
        self._records[record.id] = record.encode()
        return True

    async def prune(self, *, now: datetime, limit: int) -> int:
        expired = [
            r
            for r in (InvocationRecord.decode(raw) for raw in self._records.values())
            if r.expires_at is not None and r.expires_at <= now
        ][:limit]
        for record in expired:
            del self._records[record.id]
            if record.idempotency_key is not None:
                self._keys.pop((record.namespace, record.idempotency_key), None)
        return len(expired)
