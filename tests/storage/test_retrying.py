"""RetryingStore over every backend: reads retried on transient failures only, bounded in
tries and in time; writes never retried, whatever they carry."""

from __future__ import annotations

import random

import pytest

from tests.storage.builders import make_entries, make_record
from wess.errors import IntegrityError, StorageCircuitOpen, StorageUnavailable
from wess.observability.metrics import Metrics
from wess.storage import AddUsage, AppendAudit, PutModule, Store
from wess.storage.retrying import RetryingStore, RetryPolicy
from wess.testing import FakeClock, RecordingStore

DOWN = StorageUnavailable("the store is down")


class Sleeps:
    """The retry loop's sleep: moves a fake clock instead of waiting, and can heal the
    store after the ``heal_after``-th wait."""

    def __init__(
        self, clock: FakeClock, store: RecordingStore, op: str, heal_after: int | None = None
    ) -> None:
        self.clock = clock
        self.store = store
        self.op = op
        self.heal_after = heal_after
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)
        if self.heal_after is not None and len(self.waits) >= self.heal_after:
            self.store.fail(self.op, None)


def retrying(
    inner: Store, sleeps: Sleeps, metrics: Metrics, policy: RetryPolicy | None = None
) -> RetryingStore:
    return RetryingStore(
        inner,
        policy=policy or RetryPolicy(attempts=3, initial=0.01, maximum=0.2, budget=1.0),
        metrics=metrics,
        clock=sleeps.clock.monotonic,
        sleep=sleeps,
        rng=random.Random(9),
    )


def sample(metrics: Metrics, name: str, op: str) -> float:
    return metrics.registry.get_sample_value(name, {"op": op}) or 0.0


async def test_a_read_that_fails_briefly_is_answered_after_a_retry(store):
    """modules.get fails once, then works: the caller gets the record; two tries, one
    wait within the first backoff, one retry counted, nothing exhausted."""
    record = make_record()
    await store.commit([PutModule(record)])
    recording = RecordingStore(store)
    recording.fail("modules.get", DOWN)
    clock, metrics = FakeClock(), Metrics()
    sleeps = Sleeps(clock, recording, "modules.get", heal_after=1)
    assert await retrying(recording, sleeps, metrics).modules.get(record.id) == record
    assert recording.calls["modules.get"] == 2
    assert len(sleeps.waits) == 1
    assert 0 <= sleeps.waits[0] <= 0.01
    assert sample(metrics, "wess_storage_retries_total", "modules.get") == 1
    assert sample(metrics, "wess_storage_retries_exhausted_total", "modules.get") == 0


async def test_a_read_that_keeps_failing_stops_after_its_attempts(store):
    """Three tries, two waits growing within their doubled ceilings, then the failure
    itself reaches the caller and is counted as exhausted."""
    recording = RecordingStore(store)
    recording.fail("keys.list", DOWN)
    clock, metrics = FakeClock(), Metrics()
    sleeps = Sleeps(clock, recording, "keys.list")
    with pytest.raises(StorageUnavailable, match="down"):
        await retrying(recording, sleeps, metrics).keys.list()
    assert recording.calls["keys.list"] == 3
    assert len(sleeps.waits) == 2
    assert sleeps.waits[0] <= 0.01
    assert sleeps.waits[1] <= 0.02
    assert sample(metrics, "wess_storage_retries_total", "keys.list") == 2
    assert sample(metrics, "wess_storage_retries_exhausted_total", "keys.list") == 1


async def test_retries_stop_at_the_time_budget_before_the_attempts(store):
    """With 10 attempts but a 50 ms budget and waits of up to 40 ms, no try starts past
    the budget: the tries stop early, and the clock never passes it."""
    recording = RecordingStore(store)
    recording.fail("audit.head", DOWN)
    clock, metrics = FakeClock(), Metrics()
    sleeps = Sleeps(clock, recording, "audit.head")
    policy = RetryPolicy(attempts=10, initial=0.04, maximum=0.04, budget=0.05)
    with pytest.raises(StorageUnavailable):
        await retrying(recording, sleeps, metrics, policy).audit.head()
    assert 2 <= recording.calls["audit.head"] < 10
    assert clock.monotonic() <= 0.05


@pytest.mark.parametrize(
    "error",
    [IntegrityError("damaged"), StorageCircuitOpen("open", retry_after=3), ValueError("bad")],
    ids=["integrity", "circuit_open", "bug"],
)
async def test_only_transient_failures_are_retried(store, error):
    """An integrity error (the same damage twice), a breaker's refusal and anything that
    is not storage unavailable reach the caller after one try."""
    recording = RecordingStore(store)
    recording.fail("modules.get_info", error)
    clock, metrics = FakeClock(), Metrics()
    sleeps = Sleeps(clock, recording, "modules.get_info")
    with pytest.raises(type(error)):
        await retrying(recording, sleeps, metrics).modules.get_info(make_record().id)
    assert recording.calls["modules.get_info"] == 1
    assert sleeps.waits == []


async def test_a_failed_commit_is_never_tried_again(store):
    """A commit of an audit entry and a usage count (neither idempotent) that fails, even
    as storage unavailable, is tried once: it may have landed. So is a transaction."""
    record = make_record()
    recording = RecordingStore(store)
    recording.commit_error = DOWN
    clock, metrics = FakeClock(), Metrics()
    sleeps = Sleeps(clock, recording, "commit")
    wrapped = retrying(recording, sleeps, metrics)
    changes = [
        PutModule(record),
        AppendAudit(make_entries(1)[0]),
        AddUsage(counts=((record.id, 3),)),
    ]
    with pytest.raises(StorageUnavailable):
        await wrapped.commit(changes)
    with pytest.raises(StorageUnavailable):
        await wrapped.transact(lambda view: changes)
    assert recording.calls["commit"] == 2  # one commit, one transaction's commit
    assert recording.calls["transact"] == 1
    assert sleeps.waits == []
    assert await store.modules.get(record.id) is None


async def test_a_commit_that_landed_but_failed_is_not_applied_twice(store):
    """The disk took the commit, the answer was lost: the wrapper does not try again, so
    the usage count is added once and the audit log holds one entry."""
    record = make_record()
    await store.commit([PutModule(record)])
    recording = RecordingStore(store)
    recording.error_after_commit = DOWN
    clock, metrics = FakeClock(), Metrics()
    wrapped = retrying(recording, Sleeps(clock, recording, "commit"), metrics)
    entry = make_entries(1)[0]
    with pytest.raises(StorageUnavailable):
        await wrapped.commit([AppendAudit(entry), AddUsage(counts=((record.id, 3),))])
    assert [e.seq for e in await store.audit.list(after=0, limit=10)] == [entry.seq]
    ranking = await store.usage.most_used(10)
    assert list(ranking) == [(record.id, 3)]


def test_nonsense_policies_are_refused():
    with pytest.raises(ValueError, match="attempts must be"):
        RetryPolicy(attempts=0)
