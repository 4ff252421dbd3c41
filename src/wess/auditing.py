"""Recording refused requests in the audit log, and reading and verifying the log.

A change is audited by the Writer, in the same batch as the change. Every refusal is
recorded here, as an audit-only job: a state-changing request that failed after it was
admitted (``Auditor.refused``, by the route's dependency), whether it failed before
reaching the Writer (an invalid upload) or the Writer refused its job (a precondition, a
quota), which then committed nothing; and a failed authentication or a permission
denial (``Auditor.denied``, by the guard). So each request leaves exactly one entry, and
no error carries a flag about it.

Denials are what a flood of bad credentials produces, so they are aggregated: per
client address and outcome, the first in a window is written at once, the rest are
counted and written as one entry with their ``count`` when the window ends (and at
shutdown). The table of sources is bounded; past it, further addresses share one
entry per outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog

from wess.errors import Overloaded, StorageError, WessError
from wess.messages import RecordAudit
from wess.models import AuditEntry, AuditFields
from wess.observability.metrics import Metrics
from wess.security.anchor import AnchorFile
from wess.security.audit import AuditKey, ChainCheck, VerifyResult
from wess.storage import AuditStore
from wess.workers.audit_log import OK, timestamp
from wess.workers.periodic import PeriodicFlush
from wess.workers.writer import Writer

logger = structlog.get_logger(__name__)

OVERFLOW = "*"
"""The client address of refusals counted together once the table of sources is full."""


@dataclass(slots=True)
class _Window:
    started: float
    suppressed: int
    last: AuditFields | None


class RefusalWindows:
    """Which denials to write now and which to count: pure, with a clock passed in."""

    def __init__(self, *, window: float, sources: int, clock: Callable[[], float]) -> None:
        self.window = window
        """Seconds of one window; a new value applies to the windows open now (a reload)."""
        self._sources = sources
        self._clock = clock
        self._open: dict[tuple[str, str], _Window] = {}

    def admit(self, fields: AuditFields) -> list[AuditFields]:
        """The entries to write now for this denial: itself when it opens a window
        (after the aggregate of the window it replaces, if any), else none."""
        now = self._clock()
        key = (fields.client_ip or "unknown", fields.outcome)
        if key not in self._open and len(self._open) >= self._sources:
            key = (OVERFLOW, fields.outcome)
        window = self._open.get(key)
        if window is not None and now - window.started < self.window:
            window.suppressed += 1
            window.last = fields
            return []
        written = [] if window is None else _aggregate(window)
        self._open[key] = _Window(started=now, suppressed=0, last=None)
        return [*written, fields]

    def due(self, *, everything: bool = False) -> list[AuditFields]:
        """The aggregates of the windows that ended (of every window, ``everything``)."""
        now = self._clock()
        ended = [
            key
            for key, window in self._open.items()
            if everything or now - window.started >= self.window
        ]
        return [entry for key in ended for entry in _aggregate(self._open.pop(key))]


def _aggregate(window: _Window) -> list[AuditFields]:
    if window.suppressed == 0 or window.last is None:
        return []
    return [replace(window.last, count=window.suppressed)]


class Auditor(PeriodicFlush):
    """Queues audit-only entries; never fails the request it describes. ``async with``
    writes the aggregated denials as their windows end, and the rest on the way out."""

    name = "wess-auditor"

    def __init__(
        self,
        writer: Writer,
        *,
        metrics: Metrics,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        window: float = 60.0,
        sources: int = 10_000,
    ) -> None:
        super().__init__(interval=window / 2)
        self._writer = writer
        self._metrics = metrics
        self._clock = clock or (lambda: datetime.now(UTC))
        self._windows = RefusalWindows(window=window, sources=sources, clock=monotonic)

    def set_window(self, window: float) -> None:
        """Aggregate refusals over ``window`` seconds from now on (a reload)."""
        self._windows.window = window
        self.interval = window / 2

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
        """Record that ``action`` by ``actor`` was refused with ``exc`` (one entry)."""
        fields = self._fields(exc, actor, action, namespace, target, request_id, client_ip)
        await self._record(fields)

    async def succeeded(
        self,
        *,
        actor: str,
        action: str,
        namespace: str | None,
        target: str | None,
        request_id: str | None,
        client_ip: str | None,
    ) -> None:
        """Record that ``action`` succeeded (one entry), for a change made outside the
        Writer's jobs (a key-value write), after it was made."""
        fields = AuditFields(
            time=timestamp(self._clock()),
            actor=actor,
            namespace=namespace,
            action=action,
            target=target,
            outcome=OK,
            request_id=request_id,
            client_ip=client_ip,
        )
        await self._record(fields)

    async def denied(
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
        """Record an authentication failure or a permission denial, aggregated."""
        fields = self._fields(exc, actor, action, namespace, target, request_id, client_ip)
        for entry in self._windows.admit(fields):
            await self._record(entry)

    async def flush(self) -> None:
        # On the way out (``async with`` ended, the task is gone) every window is written.
        for entry in self._windows.due(everything=self._task is None):
            await self._record(entry)

    def _fields(
        self,
        exc: WessError,
        actor: str,
        action: str,
        namespace: str | None,
        target: str | None,
        request_id: str | None,
        client_ip: str | None,
    ) -> AuditFields:
        return AuditFields(
            time=timestamp(self._clock()),
            actor=actor,
            namespace=namespace,
            action=action,
            target=target,
            outcome=exc.code,
            request_id=request_id,
            client_ip=client_ip,
        )

    async def _record(self, fields: AuditFields) -> None:
        try:
            await self._writer.submit(RecordAudit(fields=fields))
        except (Overloaded, StorageError) as failure:
            self._metrics.audit_dropped.inc()
            logger.error(
                "audit entry not recorded",
                action=fields.action,
                outcome=fields.outcome,
                actor=fields.actor,
                reason=failure.code,
            )


class AuditTrail:
    """Reading the audit log: pages in ``seq`` order, optionally filtered; and verifying
    it under the server's key against its anchor.

    A filtered page scans at most ``SCAN_FACTOR`` times the page size, so a rare
    filter cannot make one request read the whole log; ``next_after`` continues the scan.
    """

    SCAN_FACTOR = 20
    VERIFY_PAGE = 1000

    def __init__(
        self, audit: AuditStore, *, key: AuditKey, anchors: AnchorFile | None = None
    ) -> None:
        self._audit = audit
        self._key = key
        self._anchors = anchors

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

    async def verify(self) -> VerifyResult:
        """Check the whole chain, page by page, under the key and against the anchor."""
        anchor = None if self._anchors is None else self._anchors.read()
        check = ChainCheck(key=self._key, anchor=anchor)
        after = 0
        while not check.broken:
            batch = await self._audit.list(after=after, limit=self.VERIFY_PAGE)
            if not batch:
                break
            check.feed(batch)
            after = batch[-1].seq
        return check.result()
