"""``InstrumentedRepository``: any ``ModuleRepository`` with metrics and integrity logging.

Every call records ``storage_ops{op,outcome}`` (outcome ``ok`` or the error's stable
code) and ``storage_latency{op}``; every ``IntegrityError`` that passes through is
counted in ``integrity_errors`` and logged with the module it concerns.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from uuid import UUID

import structlog

from wess.errors import IntegrityError, WessError
from wess.models import ModuleInfo, ModuleRecord, SealedArtifact
from wess.observability.metrics import Metrics
from wess.security.audit import AuditEntry
from wess.security.crypto import Keyring
from wess.security.tokens import ApiKey
from wess.storage.base import Change, ModuleRepository, NamespaceUsage, UsageRanking

logger = structlog.get_logger(__name__)


class InstrumentedRepository:
    """Wraps ``inner``; behaves exactly like it, and measures every call."""

    def __init__(self, inner: ModuleRepository, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    @property
    def inner(self) -> ModuleRepository:
        """The wrapped repository."""
        return self._inner

    async def get(self, module_id: UUID) -> ModuleRecord | None:
        async with self._measure("get", module_id):
            return await self._inner.get(module_id)

    async def get_info(self, module_id: UUID) -> ModuleInfo | None:
        async with self._measure("get_info", module_id):
            return await self._inner.get_info(module_id)

    async def list(
        self, *, namespace: str | None, after: UUID | None, limit: int
    ) -> list[ModuleInfo]:
        async with self._measure("list"):
            return await self._inner.list(namespace=namespace, after=after, limit=limit)

    async def count(self, *, namespace: str | None = None) -> int:
        async with self._measure("count"):
            return await self._inner.count(namespace=namespace)

    async def get_artifact(
        self, module_id: UUID, *, digest: str, flavor: str
    ) -> SealedArtifact | None:
        async with self._measure("get_artifact", module_id):
            return await self._inner.get_artifact(module_id, digest=digest, flavor=flavor)

    async def most_used(self, limit: int) -> UsageRanking:
        async with self._measure("most_used"):
            return await self._inner.most_used(limit)

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        async with self._measure("get_api_key"):
            return await self._inner.get_api_key(key_id)

    async def list_api_keys(self) -> builtins.list[ApiKey]:
        async with self._measure("list_api_keys"):
            return await self._inner.list_api_keys()

    async def audit_head(self) -> AuditEntry | None:
        async with self._measure("audit_head"):
            return await self._inner.audit_head()

    async def list_audit(self, *, after: int, limit: int) -> builtins.list[AuditEntry]:
        async with self._measure("list_audit"):
            return await self._inner.list_audit(after=after, limit=limit)

    async def namespace_usage(self) -> NamespaceUsage:
        async with self._measure("namespace_usage"):
            return await self._inner.namespace_usage()

    async def rewrap(self, keyring: Keyring) -> int:
        async with self._measure("rewrap"):
            return await self._inner.rewrap(keyring)

    async def commit(self, changes: Sequence[Change]) -> None:
        async with self._measure("commit"):
            await self._inner.commit(changes)

    async def ping(self) -> None:
        async with self._measure("ping"):
            await self._inner.ping()

    async def aclose(self) -> None:
        async with self._measure("close"):
            await self._inner.aclose()

    @asynccontextmanager
    async def _measure(self, op: str, module_id: UUID | None = None) -> AsyncIterator[None]:
        started = time.perf_counter()
        outcome = "ok"
        try:
            yield
        except IntegrityError as exc:
            outcome = exc.code
            self._metrics.integrity_errors.inc()
            logger.error(
                "integrity_error",
                op=op,
                module_id=exc.context.get("module_id") or _str(module_id),
                detail=exc.detail,
            )
            raise
        except WessError as exc:
            outcome = exc.code
            raise
        except BaseException as exc:
            outcome = "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"
            raise
        finally:
            self._metrics.storage_ops.labels(op=op, outcome=outcome).inc()
            self._metrics.storage_latency.labels(op=op).observe(time.perf_counter() - started)


def _str(module_id: UUID | None) -> str | None:
    return None if module_id is None else str(module_id)
