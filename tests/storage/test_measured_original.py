"""MeasuredStore feeds the original Wess's database families: reads and writes."""

from __future__ import annotations

import pytest

from tests.storage.builders import make_record
from wess.observability.metrics import Metrics
from wess.storage import PutModule
from wess.storage.measured import MeasuredStore, database_operation
from wess.storage.memory import MemoryStore


@pytest.mark.parametrize(
    ("op", "operation"),
    [
        ("modules.get", "read"),
        ("modules.list", "read"),
        ("keys.list", "read"),
        ("audit.head", "read"),
        ("usage.most_used", "read"),
        ("commit", "write"),
        ("transact", "write"),
        ("admin.rewrap", "write"),
        ("ping", None),
        ("close", None),
    ],
)
def test_each_storage_operation_maps_to_the_original_label(op, operation) -> None:
    """Concept-store reads are `read`; commits, transactions and re-sealing `write`;
    the probe and the close are not data operations."""
    assert database_operation(op) == operation


async def test_reads_and_writes_are_counted_and_timed_once_each() -> None:
    """One commit and two reads: write 1, read 2, with as many latency observations."""
    metrics = Metrics()
    store = MeasuredStore(MemoryStore(), metrics)
    record = make_record()
    await store.commit([PutModule(record)])
    await store.modules.get(record.id)
    await store.modules.get_info(record.id)
    await store.ping()
    value = metrics.registry.get_sample_value
    assert value("wess_database_operations_total", {"operation": "write"}) == 1
    assert value("wess_database_operations_total", {"operation": "read"}) == 2
    count = "wess_database_operation_duration_seconds_count"
    assert value(count, {"operation": "read"}) == 2
    assert value(count, {"operation": "write"}) == 1
