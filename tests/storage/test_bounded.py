"""BoundedStore over every backend: the storage I/O bulkhead refuses a read when its
bound of reads in flight is full, and only then."""

from __future__ import annotations

import asyncio

import pytest

from tests.storage.builders import make_record
from wess.errors import Overloaded
from wess.observability.metrics import Metrics
from wess.storage import PutModule
from wess.storage.bounded import BoundedStore
from wess.testing import MemoryStore, RecordingStore


async def test_a_read_past_the_bound_is_refused_at_once_and_writes_are_not_counted(store):
    """Two reads held at the store fill a bound of two: a third read of any concept is
    Overloaded (queue storage, Retry-After) without reaching the store, while a commit
    goes; once the held reads end, reads are admitted again."""
    record = make_record()
    metrics = Metrics()
    recording = RecordingStore(store)
    bounded = BoundedStore(recording, limit=2, metrics=metrics)
    gate = recording.hold("modules.get")
    held = [asyncio.ensure_future(bounded.modules.get(record.id)) for _ in range(2)]
    await gate.reached.wait()
    await asyncio.sleep(0)  # the second read reaches the gate too
    assert bounded.reads == 2
    with pytest.raises(Overloaded) as refusal:
        await bounded.keys.list()
    assert refusal.value.context["queue"] == "storage"
    assert refusal.value.retry_after == 1
    assert recording.calls["keys.list"] == 0
    await bounded.commit([PutModule(record)])
    depth = metrics.registry.get_sample_value("wess_queue_depth", {"queue": "storage"})
    assert depth == 2
    rejected = {"queue": "storage"}
    assert metrics.registry.get_sample_value("wess_queue_rejections_total", rejected) == 1
    gate.open()
    await asyncio.gather(*held)
    assert bounded.reads == 0
    assert await bounded.keys.list() == []


def test_a_bound_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        BoundedStore(MemoryStore(), limit=0, metrics=Metrics())
