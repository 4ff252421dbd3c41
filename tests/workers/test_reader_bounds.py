"""The Reader's two bounds from the configuration: its cache counted in modules
(``reader.cache_size = 1024``, the original Wess's meaning) and its store reads
(``reader.channel_size``)."""

from __future__ import annotations

import asyncio

import pytest

from tests.storage.builders import make_record, unique_wasm
from wess.errors import Overloaded
from wess.models import ModuleRecord
from wess.observability.metrics import Metrics
from wess.storage import PutModule
from wess.testing import RecordingStore
from wess.workers.reader import Reader


async def stored(repository: RecordingStore, count: int) -> list[ModuleRecord]:
    records = [make_record(wasm=unique_wasm(f"bound{i}")) for i in range(count)]
    await repository.inner.commit([PutModule(r) for r in records])
    return records


async def test_a_cache_of_entries_holds_that_many_modules(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """With cache_entries and no byte budget, the third module pushes out the least
    recently used of two, whatever their sizes."""
    reader = Reader(repository.modules, metrics=metrics, cache_bytes=None, cache_entries=2)
    first, second, third = await stored(repository, 3)
    await reader.get(first.id)
    await reader.get(second.id)
    await reader.get(first.id)  # second is now the least recently used
    await reader.get(third.id)
    assert repository.calls["modules.get"] == 3
    await reader.get(first.id)
    assert repository.calls["modules.get"] == 3
    await reader.get(second.id)
    assert repository.calls["modules.get"] == 4


async def test_store_reads_past_the_queue_size_are_refused_at_once(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """With queue_size store reads in flight, one more cache miss is Overloaded at once,
    counted and shown in the queue depth; once they finish, reads go through again."""
    reader = Reader(repository.modules, metrics=metrics, queue_size=1)
    first, second = await stored(repository, 2)
    gate = repository.hold("modules.get", after=True)
    held = asyncio.create_task(reader.get(first.id))
    await gate.reached.wait()
    depth = {"queue": "reader"}
    assert metrics.registry.get_sample_value("wess_queue_depth", depth) == 1
    with pytest.raises(Overloaded, match=r"reader\.channel_size"):
        await reader.get(second.id)
    with pytest.raises(Overloaded):
        await reader.get_info(second.id)
    assert metrics.registry.get_sample_value("wess_queue_rejections_total", depth) == 2
    gate.open()
    assert await held == first
    assert await reader.get(second.id) == second
    assert metrics.registry.get_sample_value("wess_queue_depth", depth) == 0


async def test_listings_counts_and_artifact_reads_share_the_bound(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """Every read the Reader makes of the store counts against reader.channel_size, not
    only module records: with one held, a listing, a count and an artifact read are
    refused at once too, and none of them reaches the store."""
    reader = Reader(repository.modules, metrics=metrics, queue_size=1)
    (first,) = await stored(repository, 1)
    gate = repository.hold("modules.get")
    held = asyncio.create_task(reader.get(first.id))
    await gate.reached.wait()
    with pytest.raises(Overloaded):
        await reader.list(namespace=None, cursor=None, limit=10)
    with pytest.raises(Overloaded):
        await reader.count()
    with pytest.raises(Overloaded):
        await reader.get_artifact(first.id, first.digest, "flavor")
    calls = ("modules.list", "modules.count", "modules.get_artifact")
    assert [repository.calls[op] for op in calls] == [0, 0, 0]
    gate.open()
    assert await held == first
    assert await reader.count() == 1
