"""BreakerStore over every backend: storage that keeps failing is refused at once, reads
and writes apart, until a probe after the cool-down finds it back."""

from __future__ import annotations

import asyncio

import pytest

from tests.storage.builders import make_record
from wess.circuit import CircuitBreaker, CircuitState
from wess.errors import IntegrityError, Overloaded, StorageCircuitOpen, StorageUnavailable
from wess.storage import PutModule, Store
from wess.storage.breaking import BreakerStore
from wess.testing import FakeClock, RecordingStore

DOWN = StorageUnavailable("the store is down")


def guarded(inner: Store, clock: FakeClock, refused: list[str]) -> BreakerStore:
    def breaker() -> CircuitBreaker:
        return CircuitBreaker(threshold=3, cooldown=5.0, clock=clock.monotonic)

    return BreakerStore(inner, reads=breaker(), writes=breaker(), refused=refused.append)


async def test_reads_that_keep_failing_open_it_and_are_then_refused_at_once(store):
    """Three failed reads open the read breaker: the fourth read never reaches the store
    and is StorageCircuitOpen with the cool-down as Retry-After; writes still go."""
    recording = RecordingStore(store)
    recording.fail("modules.get", DOWN)
    clock, refused = FakeClock(), []
    wrapped = guarded(recording, clock, refused)
    record = make_record()
    for _ in range(3):
        with pytest.raises(StorageUnavailable, match="down"):
            await wrapped.modules.get(record.id)
    with pytest.raises(StorageCircuitOpen) as refusal:
        await wrapped.modules.list(namespace=None, after=None, limit=5)
    assert refusal.value.retry_after == 5
    assert refusal.value.code == "storage_circuit_open"
    assert recording.calls["modules.get"] == 3
    assert recording.calls["modules.list"] == 0
    assert refused == ["storage_reads"]
    await wrapped.commit([PutModule(record)])  # the write breaker is closed
    assert wrapped.writes.state is CircuitState.CLOSED


async def test_a_probe_after_the_cooldown_closes_it_when_storage_is_back(store):
    """While open, ping (readiness) is refused too; after the cool-down, the next call
    probes: storage is back, the breaker closes, reads flow again."""
    record = make_record()
    await store.commit([PutModule(record)])
    recording = RecordingStore(store)
    recording.fail("modules.get", DOWN)
    clock = FakeClock()
    wrapped = guarded(recording, clock, [])
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            await wrapped.modules.get(record.id)
    recording.fail("modules.get", None)
    with pytest.raises(StorageCircuitOpen):
        await wrapped.ping()
    clock.advance(5)
    await wrapped.ping()  # the probe
    assert wrapped.reads.state is CircuitState.CLOSED
    assert await wrapped.modules.get(record.id) == record


async def test_writes_that_keep_failing_open_the_write_breaker_only(store):
    """A full disk: commits and transactions fail; after three the write breaker opens
    and the next commit is refused before reaching the store; reads still go."""
    record = make_record()
    await store.commit([PutModule(record)])
    recording = RecordingStore(store)
    recording.commit_error = DOWN
    wrapped = guarded(recording, FakeClock(), [])
    for attempt in range(3):
        write = (
            wrapped.transact(lambda view: [PutModule(record)])
            if attempt % 2
            else wrapped.commit([PutModule(record)])
        )
        with pytest.raises(StorageUnavailable, match="down"):
            await write
    before = recording.calls["commit"]
    with pytest.raises(StorageCircuitOpen, match="writes"):
        await wrapped.commit([PutModule(record)])
    assert recording.calls["commit"] == before
    assert wrapped.reads.state is CircuitState.CLOSED
    assert await wrapped.modules.get(record.id) == record


async def test_answers_that_are_not_outages_never_open_it(store):
    """Integrity errors are the store answering: any number of them leave it closed, and
    one between outages breaks the run of failures."""
    recording = RecordingStore(store)
    wrapped = guarded(recording, FakeClock(), [])
    recording.fail("modules.get", IntegrityError("damaged"))
    for _ in range(5):
        with pytest.raises(IntegrityError):
            await wrapped.modules.get(make_record().id)
    recording.fail("modules.get", DOWN)
    for _ in range(2):
        with pytest.raises(StorageUnavailable):
            await wrapped.modules.get(make_record().id)
    recording.fail("modules.get", IntegrityError("damaged"))
    with pytest.raises(IntegrityError):
        await wrapped.modules.get(make_record().id)
    recording.fail("modules.get", DOWN)
    for _ in range(2):
        with pytest.raises(StorageUnavailable):
            await wrapped.modules.get(make_record().id)
    assert wrapped.reads.state is CircuitState.CLOSED


async def test_a_probe_refused_by_the_storage_bulkhead_is_no_verdict(store):
    """The probe is refused by the bulkhead inside (Overloaded, it never reached the
    store): the breaker stays half open rather than close on it."""
    recording = RecordingStore(store)
    recording.fail("keys.list", DOWN)
    clock = FakeClock()
    wrapped = guarded(recording, clock, [])
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            await wrapped.keys.list()
    recording.fail("keys.list", Overloaded("full", queue="storage"))
    clock.advance(5)
    with pytest.raises(Overloaded):
        await wrapped.keys.list()
    assert wrapped.reads.state is CircuitState.HALF_OPEN


async def test_a_cancelled_probe_leaves_the_probe_to_the_next_call(store):
    """The probe held at the store is cancelled (its request gave up): no verdict, the
    breaker stays half open and the next call probes."""
    recording = RecordingStore(store)
    recording.fail("keys.list", DOWN)
    clock = FakeClock()
    wrapped = guarded(recording, clock, [])
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            await wrapped.keys.list()
    recording.fail("keys.list", None)
    clock.advance(5)
    gate = recording.hold("keys.list")
    probe = asyncio.ensure_future(wrapped.keys.list())
    await gate.reached.wait()
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert wrapped.reads.state is CircuitState.HALF_OPEN
    gate.open()
    assert await wrapped.keys.list() == []
    assert wrapped.reads.state is CircuitState.CLOSED
