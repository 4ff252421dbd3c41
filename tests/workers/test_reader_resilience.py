"""The Reader when storage fails or the request's deadline runs out: stale copies served
while storage is unavailable (never after a change), store reads bounded by the deadline."""

from __future__ import annotations

import asyncio

import pytest

from tests.storage.builders import make_record
from wess.errors import DeadlineExceeded, StorageCircuitOpen, StorageUnavailable
from wess.messages import ChangeKind, ModuleChanged
from wess.observability.metrics import Metrics
from wess.storage import PutModule
from wess.testing import FakeClock, RecordingStore
from wess.workers.deadline import Deadlines
from wess.workers.reader import Reader

TTL = 60.0


def stale_reads(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("wess_stale_reads_total") or 0.0


async def test_a_cached_module_past_its_ttl_is_served_while_storage_is_down(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """Past the TTL the Reader asks the store; the store is down (its breaker open, or
    unavailable): the copy it still holds is served, record and info, and counted; once
    storage is back, the fresh read replaces it."""
    clock = FakeClock()
    reader = Reader(repository.modules, metrics=metrics, ttl_seconds=TTL, clock=clock.monotonic)
    record = make_record()
    await repository.inner.commit([PutModule(record)])
    assert await reader.get(record.id) == record
    clock.advance(TTL + 1)
    repository.fail("modules.get", StorageCircuitOpen("open", retry_after=5))
    repository.fail("modules.get_info", StorageUnavailable("down"))
    assert await reader.get(record.id) == record
    assert await reader.get_info(record.id) == record.info
    assert stale_reads(metrics) == 2
    repository.fail("modules.get", None)
    assert await reader.get(record.id) == record
    assert repository.calls["modules.get"] == 3


async def test_a_changed_module_is_never_served_stale(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """A module dropped because it changed is gone from the cache: with storage down, its
    read fails rather than serve the old revision."""
    clock = FakeClock()
    reader = Reader(repository.modules, metrics=metrics, ttl_seconds=TTL, clock=clock.monotonic)
    record = make_record()
    await repository.inner.commit([PutModule(record)])
    await reader.get(record.id)
    reader.on_module_changed(
        ModuleChanged(
            change=ChangeKind.UPDATED,
            module_id=record.id,
            namespace=record.info.namespace,
            revision=2,
            digest="sha256:new",
            previous_digest=record.digest,
        )
    )
    repository.fail("modules.get", StorageUnavailable("down"))
    with pytest.raises(StorageUnavailable):
        await reader.get(record.id)
    assert stale_reads(metrics) == 0


async def test_a_store_read_that_outlives_the_deadline_is_the_storage_layer(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """The module read is held at the store while the (fake) clock passes the deadline:
    the run ends with DeadlineExceeded, layer storage, counted under that layer; the
    record it read all the same is cached for the next request."""
    clock = FakeClock()
    reader = Reader(repository.modules, metrics=metrics)
    record = make_record()
    await repository.inner.commit([PutModule(record)])
    deadline = Deadlines(1000, metrics=metrics, clock=clock.monotonic).start()
    gate = repository.hold("modules.get")
    reading = asyncio.create_task(reader.get(record.id, deadline=deadline))
    await gate.reached.wait()
    clock.advance(1.5)
    gate.open()
    with pytest.raises(DeadlineExceeded) as exceeded:
        await reading
    assert exceeded.value.layer == "storage"
    counted = {"layer": "storage"}
    assert metrics.registry.get_sample_value("wess_deadline_exceeded_total", counted) == 1
    assert await reader.get(record.id) == record
    assert repository.calls["modules.get"] == 1


async def test_a_store_read_is_cut_when_the_deadline_passes_in_real_time(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """A read held at the store with no time left is cancelled by the deadline's timer,
    not waited for: storage layer, and nothing is left counted in flight."""
    reader = Reader(repository.modules, metrics=metrics)
    record = make_record()
    await repository.inner.commit([PutModule(record)])
    deadline = Deadlines(1, metrics=metrics).start()
    repository.hold("modules.get")
    with pytest.raises(DeadlineExceeded) as exceeded:
        await reader.get(record.id, deadline=deadline)
    assert exceeded.value.layer == "storage"
    depth = metrics.registry.get_sample_value("wess_queue_depth", {"queue": "reader"})
    assert depth == 0
