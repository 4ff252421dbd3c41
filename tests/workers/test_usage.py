"""Usage counts: gathered per run in memory, stored in batches, ranked for the warm-up."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

from tests.storage.builders import AUDIT_KEY, make_record, unique_wasm
from tests.workers.serving import serving
from wess.errors import Overloaded
from wess.messages import RecordUsage
from wess.observability.metrics import Metrics
from wess.storage import PutModule
from wess.testing import RecordingStore
from wess.workers.usage import UsageCounter
from wess.workers.writer import Writer


async def test_every_run_is_counted_and_flushed_in_one_write(
    repository: RecordingStore,
) -> None:
    """Runs count in memory; one flush is one RecordUsage job, one commit, whatever the
    number of calls; leaving the counter flushes what is left."""
    async with serving(repository) as service:
        a = await service.create("sum")
        b = await service.create("counter")
        for _ in range(5):
            await service.run(a.id, "sum", [1, 1])
        await service.run(b.id, "bump", [])
        assert service.usage.pending == {a.id: 5, b.id: 1}
        commits = repository.calls["commit"]
        await service.usage.flush()
        assert repository.calls["commit"] == commits + 1
        assert service.usage.pending == {}
        assert await repository.usage.most_used(10) == [(a.id, 5), (b.id, 1)]
        await service.run(b.id, "bump", [])
    assert await repository.usage.most_used(10) == [(a.id, 5), (b.id, 2)]


async def test_counts_survive_a_failed_flush(repository: RecordingStore) -> None:
    """When the Writer refuses the job, the counts stay for the next flush."""
    module = uuid4()
    refusals = 1
    submitted: list[RecordUsage] = []

    async def submit(job: RecordUsage) -> None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise Overloaded("the write queue is full", retry_after=1)
        submitted.append(job)

    counter = UsageCounter(submit, interval=3600)
    counter.count(module)
    await counter.flush()
    counter.count(module)
    await counter.flush()
    assert [job.counts for job in submitted] == [((module, 2),)]


async def test_counts_flush_periodically(repository: RecordingStore) -> None:
    """Inside ``async with`` the counts reach the store every interval without a call."""
    record = make_record(wasm=unique_wasm("periodic"))
    await repository.commit([PutModule(record)])
    async with (
        Writer(repository, audit_key=AUDIT_KEY, metrics=Metrics()) as writer,
        UsageCounter(writer.submit, interval=0.01) as counter,
    ):
        counter.count(record.id)
        for _ in range(500):
            if await repository.usage.most_used(1):
                break
            await asyncio.sleep(0.01)
    assert await repository.usage.most_used(1) == [(record.id, 1)]


async def test_counts_of_deleted_modules_are_dropped(repository: RecordingStore) -> None:
    """A count for a module that no longer exists is not stored."""
    gone: UUID = uuid4()
    async with Writer(repository, audit_key=AUDIT_KEY, metrics=Metrics()) as writer:
        await writer.submit(RecordUsage(counts=((gone, 3),)))
    assert await repository.usage.most_used(10) == []
