"""Scheduled backups: one per interval, pruned after each, counted in the metrics, and a
failure logged and counted, never fatal."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from wess.errors import StorageUnavailable
from wess.ops.backup_manifest import BackupManifest, Content, FileDigest
from wess.ops.schedule import BackupMetrics, BackupSchedule

MANIFEST = BackupManifest(
    id="20260131T000000Z-abcdef",
    created_at="2026-01-31T00:00:00Z",
    duration_seconds=0.25,
    wess="test",
    store_format="wess-rocks/2",
    audit_chain="hmac-sha256:ak-x",
    content=Content(),
    files=(FileDigest("db/CURRENT", 16, "00"), FileDigest("server.secret", 32, "11")),
)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_each_interval_takes_a_backup_then_prunes() -> None:
    """After each interval: a backup, then a prune; the metrics record the last one."""
    calls: list[str] = []
    intervals = asyncio.Queue[None]()
    sleeping = asyncio.Queue[None]()

    async def take() -> BackupManifest:
        calls.append("take")
        return MANIFEST

    async def sleep(seconds: float) -> None:
        assert seconds == 60
        sleeping.put_nowait(None)  # the previous round, if any, is over
        await intervals.get()

    registry = CollectorRegistry()
    schedule = BackupSchedule(
        take,
        lambda: calls.append("prune"),
        interval=60,
        metrics=BackupMetrics(registry),
        sleep=sleep,
        wall_clock=lambda: 1234.0,
    )
    async with schedule:
        await sleeping.get()
        for _ in range(2):
            intervals.put_nowait(None)
            await sleeping.get()
    assert calls == ["take", "prune", "take", "prune"]
    assert value(registry, "wess_backups_total", outcome="ok") == 2
    assert value(registry, "wess_backup_last_success_timestamp_seconds") == 1234.0
    assert value(registry, "wess_backup_duration_seconds") == 0.25
    assert value(registry, "wess_backup_size_bytes") == 48


async def test_a_failed_backup_is_counted_and_the_next_one_runs() -> None:
    """A backup that fails is counted as failed and leaves the last success alone."""
    registry = CollectorRegistry()

    async def take() -> BackupManifest:
        raise StorageUnavailable("the disk is full")

    schedule = BackupSchedule(
        take, lambda: None, interval=1, metrics=BackupMetrics(registry), sleep=asyncio.sleep
    )
    assert await schedule.once() is None
    assert value(registry, "wess_backups_total", outcome="failed") == 1
    assert value(registry, "wess_backup_last_success_timestamp_seconds") == 0
