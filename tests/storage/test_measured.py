"""MeasuredStore: metrics and integrity logging around any store, every concept included."""

from __future__ import annotations

from uuid import uuid4

import pytest
from structlog.testing import capture_logs

from tests.storage.builders import make_entries, make_key, make_record
from wess.errors import IntegrityError, StorageUnavailable
from wess.observability.metrics import Metrics
from wess.security.crypto import Kek, Keyring
from wess.storage import (
    ApiKeyStore,
    AppendAudit,
    AuditStore,
    Change,
    ModuleStore,
    PutApiKey,
    PutModule,
    Store,
    StoreAdmin,
    StoreView,
    UsageStore,
)
from wess.storage.measured import MeasuredStore
from wess.storage.memory import MemoryStore


def ops(metrics: Metrics, op: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "wess_storage_operations_total", {"op": op, "outcome": outcome}
    )
    return value or 0.0


async def test_behaves_like_the_inner_store() -> None:
    """Wrapped calls answer exactly what the inner store answers; the wrapper and each of
    its concept stores satisfy their Protocols."""
    inner = MemoryStore()
    store = MeasuredStore(inner, Metrics())
    assert isinstance(store, Store)
    assert isinstance(store.modules, ModuleStore)
    assert isinstance(store.keys, ApiKeyStore)
    assert isinstance(store.audit, AuditStore)
    assert isinstance(store.usage, UsageStore)
    assert isinstance(store.admin, StoreAdmin)
    record = make_record()
    await store.commit([PutModule(record)])
    assert await store.modules.get(record.id) == record
    assert await store.modules.get_info(record.id) == record.info
    assert await store.modules.list(namespace=None, after=None, limit=5) == [record.info]
    assert await store.modules.count() == 1
    await store.ping()


async def test_every_call_is_counted_and_timed() -> None:
    """storage_ops{op,outcome} and storage_latency{op} grow with each call."""
    metrics = Metrics()
    store = MeasuredStore(MemoryStore(), metrics)
    await store.modules.get(uuid4())
    await store.modules.get(uuid4())
    await store.modules.count()
    assert ops(metrics, "modules.get", "ok") == 2
    assert ops(metrics, "modules.count", "ok") == 1
    latency = metrics.registry.get_sample_value(
        "wess_storage_operation_duration_seconds_count", {"op": "modules.get"}
    )
    assert latency == 2


async def test_failures_are_counted_by_error_code() -> None:
    """A failing call is recorded with the stable code of its error."""
    metrics = Metrics()
    store = MeasuredStore(MemoryStore(), metrics)
    await store.aclose()
    with pytest.raises(StorageUnavailable):
        await store.modules.get(uuid4())
    assert ops(metrics, "modules.get", "storage_unavailable") == 1


async def test_integrity_errors_are_counted_and_logged_with_the_module() -> None:
    """An IntegrityError passing through bumps integrity_errors and logs the module id."""
    metrics = Metrics()
    store = MeasuredStore(MemoryStore(), metrics)
    record = make_record(digest="sha256:" + "f" * 64)
    await store.commit([PutModule(record)])
    with capture_logs() as logs, pytest.raises(IntegrityError):
        await store.modules.get(record.id)
    assert metrics.registry.get_sample_value("wess_integrity_errors_total") == 1
    assert ops(metrics, "modules.get", "integrity_error") == 1
    (entry,) = [e for e in logs if e["event"] == "integrity_error"]
    assert entry["module_id"] == str(record.id)
    assert entry["log_level"] == "error"


async def test_keys_audit_usage_and_rewrap_pass_through() -> None:
    """Every concept's calls reach the inner store and are measured as <concept>.<method>,
    with no line of the wrapper written for any of them."""
    metrics = Metrics()
    store = MeasuredStore(MemoryStore(), metrics)
    key, (entry,) = make_key(), make_entries(1)
    await store.commit([PutModule(make_record(namespace="n")), PutApiKey(key)])
    await store.commit([AppendAudit(entry)])
    assert await store.keys.get(key.id) == key
    assert await store.keys.list() == [key]
    assert await store.audit.head() == entry
    assert await store.audit.list(after=0, limit=5) == [entry]
    assert list(await store.modules.namespace_usage()) == ["n"]
    assert await store.admin.rewrap(Keyring(Kek(bytes(32)))) == 1
    for op in ("keys.get", "keys.list", "audit.head", "audit.list", "admin.rewrap"):
        assert ops(metrics, op, "ok") == 1


async def test_a_transaction_is_measured_and_its_reads_report_rot() -> None:
    """transact is one measured call; an IntegrityError from a read inside it is counted
    and logged like one from a call, even when the transaction handles it."""
    metrics = Metrics()
    inner = MemoryStore()
    store = MeasuredStore(inner, metrics)
    rotten = make_record()
    inner._t.records[str(rotten.id)] = (b"not a record", rotten.wasm)  # rot under the wrapper
    fresh = make_record()
    caught: list[IntegrityError] = []

    def work(view: StoreView) -> list[Change]:
        try:
            view.get_infos([rotten.id])
        except IntegrityError as exc:
            caught.append(exc)
        return [PutModule(fresh)]

    with capture_logs() as logs:
        await store.transact(work)
    assert len(caught) == 1
    assert await store.modules.get_info(fresh.id) == fresh.info
    assert ops(metrics, "transact", "ok") == 1
    assert metrics.registry.get_sample_value("wess_integrity_errors_total") == 1
    (entry,) = [e for e in logs if e["event"] == "integrity_error"]
    assert entry["module_id"] == str(rotten.id)
