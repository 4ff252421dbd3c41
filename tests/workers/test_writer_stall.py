"""Writer over a store that stops answering: callers hear within the commit timeout,
and what they hear ("not applied" or "unknown") is what the store holds afterwards."""

from __future__ import annotations

import asyncio

import pytest

from tests.chaos.faults import WRITES, Fault, FaultyStore
from tests.storage.builders import AUDIT_KEY
from tests.support import until
from tests.workers.jobs import create
from wess.errors import StorageTimeout
from wess.messages import CreateModule
from wess.observability.metrics import Metrics
from wess.storage.memory import MemoryStore
from wess.workers.writer import Writer

TIMEOUT = 0.2


@pytest.fixture
def store() -> FaultyStore:
    return FaultyStore(MemoryStore())


def refusals(metrics: Metrics, applied: str) -> float:
    sample = metrics.registry.get_sample_value(
        "wess_writer_stall_refusals_total", {"applied": applied}
    )
    return sample or 0.0


async def outcome(writer: Writer, job: CreateModule) -> StorageTimeout | None:
    try:
        await writer.submit(job)
    except StorageTimeout as refused:
        return refused
    return None


@pytest.mark.parametrize("pipeline", [1, 2])
async def test_a_hung_commit_answers_every_waiting_write_and_each_answer_holds(
    store: FaultyStore, pipeline: int
) -> None:
    metrics = Metrics()
    writer = Writer(
        store, audit_key=AUDIT_KEY, metrics=metrics, commit_timeout=TIMEOUT, pipeline=pipeline
    )
    async with writer:
        store.inject(WRITES, Fault(hang=True))
        first = create(seed="first")
        jobs = [first] + [create(seed=str(n)) for n in range(6)]
        waiting = [asyncio.create_task(outcome(writer, first))]
        await until(lambda: store.calls[WRITES] == 1, "the first commit reaches storage")
        waiting += [asyncio.create_task(outcome(writer, job)) for job in jobs[1:]]
        answers = await asyncio.wait_for(asyncio.gather(*waiting), 10 * TIMEOUT + 5)

        assert all(isinstance(each, StorageTimeout) for each in answers), answers
        first_answer = answers[0]
        assert first_answer is not None
        assert first_answer.context["applied"] == "unknown"  # storage holds it
        assert first_answer.context["module_id"] == str(first.module_id)
        assert first_answer.retry_after == 1
        withdrawn = {
            job.module_id
            for job, each in zip(jobs, answers, strict=True)
            if each is not None and each.context["applied"] is False
        }
        unknown = {job.module_id for job in jobs} - withdrawn
        if pipeline == 1:  # only the first batch was handed to storage
            assert unknown == {first.module_id}

        # while the commit is overdue, a new write is refused at once, not applied
        late = create(seed="late")
        refused = await asyncio.wait_for(outcome(writer, late), TIMEOUT)
        assert refused is not None
        assert refused.context["applied"] is False

        store.heal()  # storage answers: what it held lands, nothing withdrawn does
        assert writer.stalled
        await until(lambda: not writer.stalled, "the held commit returns")
        after = create(seed="after")
        assert await writer.submit(after) is not None  # accepted again, no restart
        listed = await store.inner.modules.list(namespace=None, after=None, limit=100)
        stored = {info.id for info in listed}
        assert stored == unknown | {after.module_id}
        assert refusals(metrics, "unknown") == len(unknown)
        assert refusals(metrics, "false") == len(withdrawn) + 1


async def test_without_a_timeout_writes_wait_for_storage(store: FaultyStore) -> None:
    """``commit_timeout=None`` (writer.commit_timeout_ms = 0): callers wait, then land."""
    async with Writer(store, audit_key=AUDIT_KEY, metrics=Metrics()) as writer:
        store.inject(WRITES, Fault(hang=True))
        jobs = [create(seed=str(n)) for n in range(3)]
        waiting = [asyncio.create_task(writer.submit(job)) for job in jobs]
        await asyncio.sleep(2 * TIMEOUT)
        assert not any(task.done() for task in waiting)
        store.heal()
        infos = await asyncio.gather(*waiting)
        assert [info.id for info in infos if info is not None] == [job.module_id for job in jobs]


async def test_a_slow_commit_within_the_timeout_is_not_a_stall(store: FaultyStore) -> None:
    """Commits that take a while but return in time are answered as usual."""
    metrics = Metrics()
    async with Writer(store, audit_key=AUDIT_KEY, metrics=metrics, commit_timeout=5.0) as writer:
        store.inject(WRITES, Fault(delay=0.05))
        jobs = [create(seed=str(n)) for n in range(8)]
        infos = await asyncio.gather(*(writer.submit(job) for job in jobs))
        assert [info.id for info in infos if info is not None] == [job.module_id for job in jobs]
        assert refusals(metrics, "false") == refusals(metrics, "unknown") == 0
