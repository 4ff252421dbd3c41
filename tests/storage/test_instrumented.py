"""InstrumentedRepository: metrics and integrity logging around any repository."""

from __future__ import annotations

from uuid import uuid4

import pytest
from structlog.testing import capture_logs

from tests.storage.builders import make_entries, make_key, make_record
from wess.errors import IntegrityError, StorageUnavailable
from wess.observability.metrics import Metrics
from wess.security.crypto import Kek, Keyring
from wess.storage import AppendAudit, Change, ModuleRepository, PutApiKey, PutModule, StoreView
from wess.storage.instrumented import InstrumentedRepository
from wess.storage.memory import MemoryRepository


def ops(metrics: Metrics, op: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "wess_storage_operations_total", {"op": op, "outcome": outcome}
    )
    return value or 0.0


async def test_behaves_like_the_inner_repository() -> None:
    """Wrapped calls answer exactly what the inner repository answers."""
    inner = MemoryRepository()
    repository = InstrumentedRepository(inner, Metrics())
    assert isinstance(repository, ModuleRepository)
    record = make_record()
    await repository.commit([PutModule(record)])
    assert await repository.get(record.id) == record
    assert await repository.get_info(record.id) == record.info
    assert await repository.list(namespace=None, after=None, limit=5) == [record.info]
    assert await repository.count() == 1
    await repository.ping()


async def test_every_call_is_counted_and_timed() -> None:
    """storage_ops{op,outcome} and storage_latency{op} grow with each call."""
    metrics = Metrics()
    repository = InstrumentedRepository(MemoryRepository(), metrics)
    await repository.get(uuid4())
    await repository.get(uuid4())
    await repository.count()
    assert ops(metrics, "get", "ok") == 2
    assert ops(metrics, "count", "ok") == 1
    latency = metrics.registry.get_sample_value(
        "wess_storage_operation_duration_seconds_count", {"op": "get"}
    )
    assert latency == 2


async def test_failures_are_counted_by_error_code() -> None:
    """A failing call is recorded with the stable code of its error."""
    metrics = Metrics()
    repository = InstrumentedRepository(MemoryRepository(), metrics)
    await repository.aclose()
    with pytest.raises(StorageUnavailable):
        await repository.get(uuid4())
    assert ops(metrics, "get", "storage_unavailable") == 1


async def test_integrity_errors_are_counted_and_logged_with_the_module() -> None:
    """An IntegrityError passing through bumps integrity_errors and logs the module id."""
    metrics = Metrics()
    repository = InstrumentedRepository(MemoryRepository(), metrics)
    record = make_record(digest="sha256:" + "f" * 64)
    await repository.commit([PutModule(record)])
    with capture_logs() as logs, pytest.raises(IntegrityError):
        await repository.get(record.id)
    assert metrics.registry.get_sample_value("wess_integrity_errors_total") == 1
    assert ops(metrics, "get", "integrity_error") == 1
    (entry,) = [e for e in logs if e["event"] == "integrity_error"]
    assert entry["module_id"] == str(record.id)
    assert entry["log_level"] == "error"


async def test_keys_audit_usage_and_rewrap_pass_through() -> None:
    """The security-era calls reach the inner repository and are measured by name."""
    metrics = Metrics()
    repository = InstrumentedRepository(MemoryRepository(), metrics)
    key, (entry,) = make_key(), make_entries(1)
    await repository.commit([PutModule(make_record(namespace="n")), PutApiKey(key)])
    await repository.commit([AppendAudit(entry)])
    assert await repository.get_api_key(key.id) == key
    assert await repository.list_api_keys() == [key]
    assert await repository.audit_head() == entry
    assert await repository.list_audit(after=0, limit=5) == [entry]
    assert list(await repository.namespace_usage()) == ["n"]
    assert await repository.rewrap(Keyring(Kek(bytes(32)))) == 1
    for op in ("get_api_key", "list_api_keys", "audit_head", "list_audit", "rewrap"):
        assert ops(metrics, op, "ok") == 1


async def test_a_transaction_is_measured_and_its_reads_report_rot() -> None:
    """transact is one measured call; an IntegrityError from a read inside it is counted
    and logged like one from a call, even when the transaction handles it."""
    metrics = Metrics()
    inner = MemoryRepository()
    repository = InstrumentedRepository(inner, metrics)
    rotten = make_record()
    inner._records[str(rotten.id)] = (b"not a record", rotten.wasm)  # rot under the wrapper
    fresh = make_record()
    caught: list[IntegrityError] = []

    def work(view: StoreView) -> list[Change]:
        try:
            view.get_infos([rotten.id])
        except IntegrityError as exc:
            caught.append(exc)
        return [PutModule(fresh)]

    with capture_logs() as logs:
        await repository.transact(work)
    assert len(caught) == 1
    assert await repository.get_info(fresh.id) == fresh.info
    assert ops(metrics, "transact", "ok") == 1
    assert metrics.registry.get_sample_value("wess_integrity_errors_total") == 1
    (entry,) = [e for e in logs if e["event"] == "integrity_error"]
    assert entry["module_id"] == str(rotten.id)
