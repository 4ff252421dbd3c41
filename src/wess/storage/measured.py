"""``MeasuredStore``: any ``Store`` with metrics and integrity logging, written once.

Every call of a concept store (``modules.get``, ``keys.list``, ...) and every
``commit``, ``transact``, ``ping`` and ``aclose`` records ``storage_ops{op,outcome}``
(outcome ``ok`` or the error's stable code) and ``storage_latency{op}``; every
``IntegrityError`` that passes through is counted in ``integrity_errors`` and logged
with the module it concerns. The concept stores are wrapped by ``WrappedStore``, so a
method added to a Protocol is measured without a line here.

The original Wess's ``wess_database_operations_total{operation}`` and
``wess_database_operation_duration_seconds{operation}`` are fed here too, with its two
values (``database_operation``): ``write`` for ``commit``, ``transact`` and every
``admin.*`` method (re-sealing), ``read`` for every other concept-store method
(``modules.get``, ``keys.list``, ``audit.head`` ...); ``ping`` (the readiness probe)
and ``close`` are not data operations and are left out of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import structlog
from prometheus_client import Counter, Histogram

from wess.errors import IntegrityError, WessError
from wess.models import ApiKey, AuditEntry, ModuleInfo
from wess.observability.metrics import Metrics
from wess.storage.base import Change, Store, StoreView, Transaction
from wess.storage.modules import NamespaceUsage
from wess.storage.wrapping import WrappedStore

logger = structlog.get_logger(__name__)

T = TypeVar("T")

WRITES = frozenset({"commit", "transact"})
UNCOUNTED = frozenset({"ping", "close"})


def database_operation(op: str) -> str | None:
    """The original Wess's ``operation`` label of storage operation ``op``: ``read`` or
    ``write``; None for the probe and the close, which it does not count."""
    if op in UNCOUNTED:
        return None
    if op in WRITES or op.startswith("admin."):
        return "write"
    return "read"


class _Meter:
    """Records one storage operation; the metric children of successful calls are
    looked up once per operation, not per call."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._ok: dict[str, tuple[Counter, Histogram]] = {}
        self._original: dict[str, tuple[Counter, Histogram] | None] = {}

    async def measure(self, op: str, call: Awaitable[T], module_id: UUID | None = None) -> T:
        started = time.perf_counter()
        try:
            result = await call
        except BaseException as exc:
            seconds = time.perf_counter() - started
            self._failed(op, exc, module_id)
            self._metrics.storage_latency.labels(op=op).observe(seconds)
            self._count_original(op, seconds)
            raise
        seconds = time.perf_counter() - started
        done, latency = self._ok.get(op) or self._children(op)
        done.inc()
        latency.observe(seconds)
        self._count_original(op, seconds)
        return result

    def _count_original(self, op: str, seconds: float) -> None:
        """The original Wess's families, which count attempts whatever their outcome."""
        if op in self._original:
            children = self._original[op]
        else:
            operation = database_operation(op)
            children = self._original[op] = (
                None
                if operation is None
                else (
                    self._metrics.database_operations.labels(operation=operation),
                    self._metrics.database_latency.labels(operation=operation),
                )
            )
        if children is not None:
            children[0].inc()
            children[1].observe(seconds)

    def integrity_error(self, op: str, exc: IntegrityError, module_id: UUID | None) -> None:
        self._metrics.integrity_errors.inc()
        logger.error(
            "integrity_error",
            op=op,
            module_id=exc.context.get("module_id") or _str(module_id),
            detail=exc.detail,
        )

    def _children(self, op: str) -> tuple[Counter, Histogram]:
        children = (
            self._metrics.storage_ops.labels(op=op, outcome="ok"),
            self._metrics.storage_latency.labels(op=op),
        )
        self._ok[op] = children
        return children

    def _failed(self, op: str, exc: BaseException, module_id: UUID | None) -> None:
        if isinstance(exc, IntegrityError):
            self.integrity_error(op, exc, module_id)
        if isinstance(exc, WessError):
            outcome = exc.code
        else:
            outcome = "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"
        self._metrics.storage_ops.labels(op=op, outcome=outcome).inc()


class MeasuredStore(WrappedStore):
    """Wraps ``inner``; behaves exactly like it, and measures every call."""

    def __init__(self, inner: Store, metrics: Metrics) -> None:
        self._meter = _Meter(metrics)
        super().__init__(inner, self._measure)

    async def _measure(
        self, op: str, call: Callable[[], Awaitable[Any]], args: tuple[Any, ...]
    ) -> Any:
        module_id = args[0] if args and isinstance(args[0], UUID) else None
        return await self._meter.measure(op, call(), module_id)

    async def commit(self, changes: Sequence[Change]) -> None:
        return await self._meter.measure("commit", self._inner.commit(changes))

    async def transact(self, work: Transaction) -> None:
        def watched(view: StoreView) -> Sequence[Change]:
            return work(_WatchedView(view, self._meter.integrity_error))

        return await self._meter.measure("transact", self._inner.transact(watched))

    async def ping(self) -> None:
        return await self._meter.measure("ping", self._inner.ping())

    async def aclose(self) -> None:
        return await self._meter.measure("close", self._inner.aclose())


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

    def find_names(self, names: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UUID | None]:
        return self._view.find_names(names)

    def namespace_usage(self, namespaces: Sequence[str]) -> NamespaceUsage:
        return self._view.namespace_usage(namespaces)

    def audit_head(self) -> AuditEntry | None:
        try:
            return self._view.audit_head()
        except IntegrityError as exc:
            self._report("audit_head", exc, None)
            raise


def _str(module_id: UUID | None) -> str | None:
    return None if module_id is None else str(module_id)
