"""Backups on a schedule, inside the server: one every ``backup.interval`` seconds.

``BackupSchedule`` runs inside ``async with``: it sleeps an interval, takes a backup
(``take``, the server's ``Backups.create`` over its store), prunes down to
``retention``, and records the outcome in ``BackupMetrics``. A failed backup is logged
and counted, never fatal: the next interval tries again. Leaving the block stops it (a
backup under way is cancelled; its ``.partial`` directory goes with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from wess.errors import WessError
from wess.ops.backup_manifest import BackupManifest

logger = structlog.get_logger(__name__)


class BackupMetrics:
    """The backup metrics, on the server's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.last_success = Gauge(
            "wess_backup_last_success_timestamp_seconds",
            "When the last backup that verified finished (Unix time); 0 before the first.",
            registry=registry,
        )
        self.duration = Gauge(
            "wess_backup_duration_seconds",
            "How long the last successful backup took, checkpoint and verification.",
            registry=registry,
        )
        self.size = Gauge(
            "wess_backup_size_bytes",
            "Bytes of the files of the last successful backup (table files may be shared "
            "with the store as hard links).",
            registry=registry,
        )
        self.outcomes = Counter(
            "wess_backups_total",
            "Backups attempted by the server, by outcome (ok, failed).",
            ["outcome"],
            registry=registry,
        )

    def succeeded(self, manifest: BackupManifest, *, now: float) -> None:
        self.outcomes.labels(outcome="ok").inc()
        self.last_success.set(now)
        self.duration.set(manifest.duration_seconds)
        self.size.set(manifest.size_bytes)

    def failed(self) -> None:
        self.outcomes.labels(outcome="failed").inc()


class BackupSchedule:
    """Calls ``take`` every ``interval`` seconds, then ``prune``; see the module docstring."""

    def __init__(
        self,
        take: Callable[[], Awaitable[BackupManifest]],
        prune: Callable[[], object],
        *,
        interval: float,
        metrics: BackupMetrics,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._take = take
        self._prune = prune
        self._interval = interval
        self._metrics = metrics
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="wess-backups")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def once(self) -> BackupManifest | None:
        """Take one backup and prune; None (logged, counted) if it failed."""
        try:
            manifest = await self._take()
            await asyncio.to_thread(self._prune)
        except (WessError, OSError) as exc:
            self._metrics.failed()
            logger.error("scheduled backup failed", error=str(exc))
            return None
        self._metrics.succeeded(manifest, now=self._wall_clock())
        logger.info(
            "backup taken",
            backup=manifest.id,
            modules=manifest.content.modules,
            bytes=manifest.size_bytes,
            seconds=round(manifest.duration_seconds, 3),
        )
        return manifest

    async def _run(self) -> None:
        while True:
            await self._sleep(self._interval)
            await self.once()
