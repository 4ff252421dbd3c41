"""Recording refused requests in the audit log.

A change is audited by the Writer, in the same batch as the change. Every refusal is
recorded here, as an audit-only job: a failed authentication or a permission denial
(by the guard), and a state-changing request that failed after it was admitted (by the
route's dependency), whether it failed before reaching the Writer (an invalid upload)
or the Writer refused its job (a precondition, a quota), which then committed nothing.
So each request leaves exactly one entry, and no error carries a flag about it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from wess.errors import Overloaded, StorageError, WessError
from wess.messages import RecordAudit
from wess.models import AuditEntry, AuditFields
from wess.observability.metrics import Metrics
from wess.storage import AuditStore
from wess.workers.audit_log import timestamp
from wess.workers.writer import Writer

logger = structlog.get_logger(__name__)


class Auditor:
    """Queues audit-only entries; never fails the request it describes."""

    def __init__(
        self, writer: Writer, *, metrics: Metrics, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._clock = clock or (lambda: datetime.now(UTC))

    async def refused(
        self,
        exc: WessError,
        *,
        actor: str,
        action: str,
        namespace: str | None,
        target: str | None,
        request_id: str | None,
        client_ip: str | None,
    ) -> None:
        """Record that ``action`` by ``actor`` was refused with ``exc``."""
        fields = AuditFields(
            time=timestamp(self._clock()),
            actor=actor,
            namespace=namespace,
            action=action,
            target=target,
            outcome=exc.code,
            request_id=request_id,
            client_ip=client_ip,
        )
        try:
            await self._writer.submit(RecordAudit(fields=fields))
        except (Overloaded, StorageError) as failure:
            self._metrics.audit_dropped.inc()
            logger.error(
                "audit entry not recorded",
                action=action,
                outcome=exc.code,
                actor=actor,
                reason=failure.code,
            )


class AuditTrail:
    """Reading the audit log: pages in ``seq`` order, optionally filtered.

    A filtered page scans at most ``SCAN_FACTOR`` times the page size, so a rare
    filter cannot make one request read the whole log; ``next_after`` continues the scan.
    """

    SCAN_FACTOR = 20

    def __init__(self, audit: AuditStore) -> None:
        self._audit = audit

    async def page(
        self, *, after: int, limit: int, match: Callable[[AuditEntry], bool] | None = None
    ) -> tuple[list[AuditEntry], int | None]:
        """Matching entries with ``seq > after`` and where to continue (None: the end)."""
        found: list[AuditEntry] = []
        cursor = after
        budget = limit * self.SCAN_FACTOR if match is not None else limit
        while len(found) < limit and budget > 0:
            batch = await self._audit.list(after=cursor, limit=min(budget, 500))
            if not batch:
                return found, None
            for entry in batch:
                cursor = entry.seq
                budget -= 1
                if match is None or match(entry):
                    found.append(entry)
                    if len(found) == limit:
                        break
        more = await self._audit.list(after=cursor, limit=1)
        return found, (cursor if more else None)
