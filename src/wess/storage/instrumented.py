"""``InstrumentedRepository``: any ``ModuleRepository`` with metrics and integrity logging.

Every call records ``storage_ops{op,outcome}`` (outcome ``ok`` or the error's stable
code) and ``storage_latency{op}``; every ``IntegrityError`` that passes through is
counted in ``integrity_errors`` and logged with the module it concerns.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar
from uuid import UUID

import structlog
from prometheus_client import Counter, Histogram

from wess.errors import IntegrityError, WessError
from wess.models import ModuleInfo, ModuleRecord, SealedArtifact
from wess.observability.metrics import Metrics
from wess.security.audit import AuditEntry
from wess.security.crypto import Keyring
from wess.security.tokens import ApiKey
from wess.storage.base import (
    Change,
    ModuleRepository,
    NamespaceUsage,
    StoreView,
    Transaction,
    UsageRanking,
)

logger = structlog.get_logger(__name__)

T = TypeVar("T")


class InstrumentedRepository:
    """Wraps ``inner``; behaves exactly like it, and measures every call (the metric
    children of successful calls are looked up once per operation, not per call)."""

    def __init__(self, inner: ModuleRepository, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self._ok: dict[str, tuple[Counter, Histogram]] = {}

    @property
    def inner(self) -> ModuleRepository:
        """The wrapped repository."""
        return self._inner

    async def get(self, module_id: UUID) -> ModuleRecord | None:
        return await self._measured("get", self._inner.get(module_id), module_id=module_id)

    async def get_info(self, module_id: UUID) -> ModuleInfo | None:
        return await self._measured(
            "get_info", self._inner.get_info(module_id), module_id=module_id
        )

    async def list(
        self, *, namespace: str | None, after: UUID | None, limit: int
    ) -> list[ModuleInfo]:
        return await self._measured(
            "list", self._inner.list(namespace=namespace, after=after, limit=limit)
        )

    async def count(self, *, namespace: str | None = None) -> int:
        return await self._measured("count", self._inner.count(namespace=namespace))

    async def get_artifact(
        self, module_id: UUID, *, digest: str, flavor: str
    ) -> SealedArtifact | None:
        return await self._measured(
            "get_artifact",
            self._inner.get_artifact(module_id, digest=digest, flavor=flavor),
            module_id=module_id,
        )

    async def most_used(self, limit: int) -> UsageRanking:
        return await self._measured("most_used", self._inner.most_used(limit))

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        return await self._measured("get_api_key", self._inner.get_api_key(key_id))

    async def list_api_keys(self) -> builtins.list[ApiKey]:
        return await self._measured("list_api_keys", self._inner.list_api_keys())

    async def audit_head(self) -> AuditEntry | None:
        return await self._measured("audit_head", self._inner.audit_head())

    async def list_audit(self, *, after: int, limit: int) -> builtins.list[AuditEntry]:
        return await self._measured("list_audit", self._inner.list_audit(after=after, limit=limit))

    async def namespace_usage(self) -> NamespaceUsage:
        return await self._measured("namespace_usage", self._inner.namespace_usage())

    async def rewrap(self, keyring: Keyring) -> int:
        return await self._measured("rewrap", self._inner.rewrap(keyring))

    async def commit(self, changes: Sequence[Change]) -> None:
        return await self._measured("commit", self._inner.commit(changes))

    async def transact(self, work: Transaction) -> None:
        def watched(view: StoreView) -> Sequence[Change]:
            return work(_WatchedView(view, self._integrity_error))

        return await self._measured("transact", self._inner.transact(watched))

    async def ping(self) -> None:
        return await self._measured("ping", self._inner.ping())

    async def aclose(self) -> None:
        return await self._measured("close", self._inner.aclose())

    async def _measured(self, op: str, call: Awaitable[T], module_id: UUID | None = None) -> T:
        started = time.perf_counter()
        try:
            result = await call
        except BaseException as exc:
            self._failed(op, exc, module_id)
            self._metrics.storage_latency.labels(op=op).observe(time.perf_counter() - started)
            raise
        done, latency = self._ok.get(op) or self._children(op)
        done.inc()
        latency.observe(time.perf_counter() - started)
        return result

    def _children(self, op: str) -> tuple[Counter, Histogram]:
        """The ``ok`` counter and the latency histogram of ``op``, looked up once."""
        children = (
            self._metrics.storage_ops.labels(op=op, outcome="ok"),
            self._metrics.storage_latency.labels(op=op),
        )
        self._ok[op] = children
        return children

    def _failed(self, op: str, exc: BaseException, module_id: UUID | None) -> None:
        if isinstance(exc, IntegrityError):
            self._integrity_error(op, exc, module_id)
        if isinstance(exc, WessError):
            outcome = exc.code
        else:
            outcome = "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"
        self._metrics.storage_ops.labels(op=op, outcome=outcome).inc()

    def _integrity_error(self, op: str, exc: IntegrityError, module_id: UUID | None) -> None:
        self._metrics.integrity_errors.inc()
        logger.error(
            "integrity_error",
            op=op,
            module_id=exc.context.get("module_id") or _str(module_id),
            detail=exc.detail,
        )


class _WatchedView:
    """A transaction's view whose reads count and log integrity errors, like the
    wrapper's own calls (a read the Writer makes inside ``transact`` may find rot)."""

    def __init__(
        self, view: StoreView, report: Callable[[str, IntegrityError, UUID | None], None]
    ) -> None:
        self._view = view
        self._report = report

    def get_infos(self, module_ids: Sequence[UUID]) -> dict[UUID, ModuleInfo | None]:
        try:
            return self._view.get_infos(module_ids)
        except IntegrityError as exc:
            self._report("get_infos", exc, module_ids[0] if len(module_ids) == 1 else None)
            raise

    def get_api_key(self, key_id: str) -> ApiKey | None:
        try:
            return self._view.get_api_key(key_id)
        except IntegrityError as exc:
            self._report("get_api_key", exc, None)
            raise


def _str(module_id: UUID | None) -> str | None:
    return None if module_id is None else str(module_id)
