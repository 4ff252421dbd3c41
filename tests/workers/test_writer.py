"""Writer: one consumer, group commit, per-job validation, events after durability."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest
from structlog.testing import capture_logs

from tests.storage.builders import AUDIT_KEY, make_content, unique_wasm
from tests.workers.jobs import create
from wess.errors import (
    InvalidRequest,
    ModuleNotFound,
    Overloaded,
    PreconditionFailed,
    StorageUnavailable,
)
from wess.messages import ChangeKind, DeleteModule, ModuleChanged, UpdateModule
from wess.models import DEFAULT_NAMESPACE
from wess.observability.metrics import Metrics
from wess.storage.memory import MemoryStore
from wess.storage.rocks import RocksStore
from wess.testing import FakeClock, RecordingStore
from wess.workers.writer import Writer


@pytest.fixture
async def writer(repository: RecordingStore, metrics: Metrics) -> AsyncIterator[Writer]:
    async with Writer(
        repository, audit_key=AUDIT_KEY, metrics=metrics, clock=FakeClock(step=1)
    ) as writer:
        yield writer


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_create_stores_revision_one(writer: Writer, repository: RecordingStore) -> None:
    """A create answers the stored info: revision 1, created_at == updated_at == clock()."""
    job = create(seed="c")
    info = await writer.submit(job)
    assert info is not None
    assert (info.id, info.revision, info.namespace) == (job.module_id, 1, DEFAULT_NAMESPACE)
    assert info.created_at == info.updated_at
    assert (info.digest, info.size) == (job.content.digest, len(job.content.wasm))
    assert await repository.inner.modules.get_info(job.module_id) == info


async def test_update_bumps_revision_and_keeps_created_at(writer: Writer) -> None:
    """An update stores revision + 1, keeps created_at and namespace, moves updated_at."""
    job = create(namespace="team")
    created = await writer.submit(job)
    assert created is not None
    content = make_content(unique_wasm("v2"), name="renamed")
    updated = await writer.submit(
        UpdateModule(module_id=job.module_id, namespace="team", content=content)
    )
    assert updated is not None
    assert updated.revision == 2
    assert (updated.created_at, updated.namespace) == (created.created_at, "team")
    assert updated.updated_at > created.updated_at
    assert (updated.digest, updated.name) == (content.digest, "renamed")


async def test_delete_removes_and_answers_none(writer: Writer, repository: RecordingStore) -> None:
    """A delete answers None and the module is gone."""
    job = create()
    await writer.submit(job)
    assert (
        await writer.submit(DeleteModule(module_id=job.module_id, namespace=job.namespace)) is None
    )
    assert await repository.inner.modules.get_info(job.module_id) is None


async def test_create_of_an_existing_id_fails(writer: Writer) -> None:
    """Creating an id that exists is refused with PreconditionFailed; the original stays."""
    job = create(seed="first")
    await writer.submit(job)
    with pytest.raises(PreconditionFailed, match="already exists"):
        await writer.submit(dataclasses.replace(job, content=make_content(unique_wasm("x"))))


@pytest.mark.parametrize("namespace", [DEFAULT_NAMESPACE, "other"])
async def test_update_or_delete_of_a_missing_or_foreign_module_is_not_found(
    writer: Writer, namespace: str
) -> None:
    """Update/delete of an absent id, or of an id in another namespace, is ModuleNotFound."""
    module_id = uuid4()
    if namespace == "other":
        await writer.submit(create(module_id, namespace="other"))
    content = make_content()
    with pytest.raises(ModuleNotFound):
        await writer.submit(UpdateModule(module_id=module_id, namespace="mine", content=content))
    with pytest.raises(ModuleNotFound):
        await writer.submit(DeleteModule(module_id=module_id, namespace="mine"))


async def test_if_match_must_hold(writer: Writer) -> None:
    """if_match must equal the current digest ("*" means it must exist), else 412."""
    job = create(seed="a")
    current = job.content.digest
    await writer.submit(job)
    update = UpdateModule(
        module_id=job.module_id, namespace=job.namespace, content=make_content(unique_wasm("b"))
    )
    with pytest.raises(PreconditionFailed, match=current):
        await writer.submit(dataclasses.replace(update, if_match="sha256:" + "0" * 64))
    info = await writer.submit(dataclasses.replace(update, if_match=current))
    assert info is not None
    assert info.revision == 2
    delete = DeleteModule(module_id=job.module_id, namespace=job.namespace, if_match=current)
    with pytest.raises(PreconditionFailed):
        await writer.submit(delete)
    assert await writer.submit(dataclasses.replace(delete, if_match="*")) is None
    with pytest.raises(ModuleNotFound):
        await writer.submit(dataclasses.replace(delete, if_match="*"))


async def test_jobs_of_one_batch_see_each_other(writer: Writer, repository: RecordingStore) -> None:
    """Validated in order: create then update in one batch gives revision 2; a second create
    of the same id fails alone while the others of the batch commit together."""
    job = create(seed="one")
    update = UpdateModule(
        module_id=job.module_id, namespace=job.namespace, content=make_content(unique_wasm("two"))
    )
    other = create(seed="other")
    results = await asyncio.gather(
        writer.submit(job),
        writer.submit(update),
        writer.submit(dataclasses.replace(job)),
        writer.submit(other),
        return_exceptions=True,
    )
    created, updated, duplicate, other_info = results
    assert not isinstance(created, BaseException)
    assert created is not None
    assert not isinstance(updated, BaseException)
    assert updated is not None
    assert (created.revision, updated.revision) == (1, 2)
    assert isinstance(duplicate, PreconditionFailed)
    assert not isinstance(other_info, BaseException)
    assert repository.calls["commit"] == 1
    assert repository.commit_sizes == [6]  # two modules and a revision: each a put, a revision
    stored = await repository.inner.modules.get_info(job.module_id)
    assert stored is not None
    assert stored.revision == 2


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
async def test_concurrent_submits_are_group_committed(
    backend: str, tmp_path: Path, metrics: Metrics
) -> None:
    """N concurrent submits take fewer than N commits (one fsync per batch), all applied."""
    store = await RocksStore.open(tmp_path) if backend == "rocksdb" else MemoryStore()
    inner = RecordingStore(store)
    n = 200
    async with Writer(inner, audit_key=AUDIT_KEY, metrics=metrics, max_batch=64) as writer:
        infos = await asyncio.gather(*(writer.submit(create(seed=str(i))) for i in range(n)))
    assert all(info is not None for info in infos)
    assert await inner.inner.modules.count() == n
    assert inner.calls["commit"] < n
    assert max(inner.commit_sizes) <= 2 * 64  # a create: the module and its revision
    assert sample(metrics, "wess_writer_batch_jobs_count") == inner.calls["commit"]
    assert sample(metrics, "wess_writer_batch_jobs_sum") == n
    await inner.aclose()


async def test_a_batch_is_read_and_committed_in_one_transaction(
    writer: Writer, repository: RecordingStore
) -> None:
    """A batch of N jobs costs one ``transact`` (one thread hop for RocksDB: the reads of
    all its modules and its commit) and one commit, never a read per job."""
    jobs = [create(seed=str(i)) for i in range(20)]
    infos = await asyncio.gather(*(writer.submit(job) for job in jobs))
    assert [info.id for info in infos if info is not None] == [j.module_id for j in jobs]
    assert (repository.calls["transact"], repository.calls["commit"]) == (1, 1)
    assert repository.calls["modules.get_info"] == repository.calls["modules.get"] == 0


async def test_a_module_that_cannot_be_read_refuses_only_its_jobs(
    writer: Writer, repository: RecordingStore
) -> None:
    """If the batch's read fails for one module, its jobs get the error; the other jobs
    of the batch are still checked and committed."""
    unreadable, fine = create(seed="bad"), create(seed="good")
    repository.unreadable[unreadable.module_id] = StorageUnavailable("disk hiccup")
    failed, stored = await asyncio.gather(
        writer.submit(unreadable), writer.submit(fine), return_exceptions=True
    )
    assert isinstance(failed, StorageUnavailable)
    assert not isinstance(stored, BaseException)
    assert stored is not None
    assert stored.id == fine.module_id
    assert repository.commit_sizes == [2]  # the module and its first revision
    assert await repository.inner.modules.get_info(unreadable.module_id) is None


async def test_a_full_queue_answers_overloaded_at_once(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """Past queue_size waiting jobs, submit raises Overloaded(retry_after=1) and counts it."""
    async with Writer(repository, audit_key=AUDIT_KEY, metrics=metrics, queue_size=2) as writer:
        # The three tasks run back to back before the consumer gets a turn.
        tasks = [asyncio.create_task(writer.submit(create(seed=str(i)))) for i in range(3)]
        done = await asyncio.gather(*tasks, return_exceptions=True)
    assert [isinstance(r, Overloaded) for r in done] == [False, False, True]
    rejected = done[2]
    assert isinstance(rejected, Overloaded)
    assert rejected.retry_after == 1
    assert sample(metrics, "wess_queue_rejections_total", queue="writer") == 1
    assert sample(metrics, "wess_queue_depth", queue="writer") == 0


async def test_a_commit_failure_fails_every_job_of_the_batch(
    writer: Writer, repository: RecordingStore
) -> None:
    """When the commit raises, each job of that batch gets the StorageError; none is stored."""
    repository.commit_error = StorageUnavailable("disk on fire")
    jobs = [create(seed=str(i)) for i in range(3)]
    results = await asyncio.gather(*(writer.submit(j) for j in jobs), return_exceptions=True)
    assert all(isinstance(r, StorageUnavailable) for r in results)
    repository.commit_error = None
    assert await repository.inner.modules.count() == 0
    assert await writer.submit(create(seed="after")) is not None  # the writer lives on


async def test_a_refused_job_keeps_its_own_error_when_the_commit_fails(
    writer: Writer, repository: RecordingStore
) -> None:
    """A job refused on its own (no audit entry: nothing of it is committed) is answered
    with its own error, not the error of the commit that failed for the others."""
    repository.commit_error = StorageUnavailable("disk on fire")
    missing = UpdateModule(module_id=uuid4(), namespace=DEFAULT_NAMESPACE, content=make_content())
    refused, failed = await asyncio.gather(
        writer.submit(missing), writer.submit(create()), return_exceptions=True
    )
    assert isinstance(refused, ModuleNotFound)
    assert isinstance(failed, StorageUnavailable)


async def test_a_cancelled_caller_still_gets_its_write_done_once(
    writer: Writer, repository: RecordingStore
) -> None:
    """Cancelling the awaiting caller neither loses nor repeats the queued write."""
    job = create()
    task = asyncio.create_task(writer.submit(job))
    await asyncio.sleep(0)  # queued
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await writer.submit(create(seed="later"))  # the earlier batch is done by now
    info = await repository.inner.modules.get_info(job.module_id)
    assert info is not None
    assert info.revision == 1
    with pytest.raises(PreconditionFailed):
        await writer.submit(job)


async def test_listeners_get_one_event_per_applied_job(writer: Writer) -> None:
    """create, update and delete each publish one ModuleChanged with the right digests."""
    events: list[ModuleChanged] = []
    writer.subscribe(events.append)
    job = create(seed="a")
    await writer.submit(job)
    update = UpdateModule(
        module_id=job.module_id, namespace=job.namespace, content=make_content(unique_wasm("b"))
    )
    await writer.submit(update)
    with pytest.raises(ModuleNotFound):
        await writer.submit(DeleteModule(module_id=uuid4(), namespace=job.namespace))
    await writer.submit(DeleteModule(module_id=job.module_id, namespace=job.namespace))
    a, b = job.content.digest, update.content.digest
    assert [(e.change, e.revision, e.digest, e.previous_digest) for e in events] == [
        (ChangeKind.CREATED, 1, a, None),
        (ChangeKind.UPDATED, 2, b, a),
        (ChangeKind.DELETED, 2, None, b),
    ]
    assert {e.module_id for e in events} == {job.module_id}


async def test_a_failing_listener_is_logged_and_does_not_break_the_writer(
    writer: Writer,
) -> None:
    """A listener that raises is logged; later listeners and later jobs carry on."""
    seen: list[ModuleChanged] = []

    def broken(event: ModuleChanged) -> None:
        raise RuntimeError("listener bug")

    writer.subscribe(broken)
    writer.subscribe(seen.append)
    with capture_logs() as logs:
        assert await writer.submit(create(seed="1")) is not None
    assert await writer.submit(create(seed="2")) is not None
    assert len(seen) == 2
    assert any(e["event"] == "module_changed_listener_failed" for e in logs)


async def test_each_write_is_logged_with_its_kind_and_request_id(writer: Writer) -> None:
    """Log events read "CREATE <id>", "UPDATE <id>", "DELETE <id>" with request_id."""
    job = dataclasses.replace(create(), request_id="req-1")
    update = UpdateModule(
        module_id=job.module_id, namespace=job.namespace, content=make_content(), request_id="r2"
    )
    with capture_logs() as logs:
        await writer.submit(job)
        await writer.submit(update)
        await writer.submit(DeleteModule(module_id=job.module_id, namespace=job.namespace))
    writes = [(e["event"], e["request_id"]) for e in logs if "module_id" in e]
    assert writes == [
        (f"CREATE {job.module_id}", "req-1"),
        (f"UPDATE {job.module_id}", "r2"),
        (f"DELETE {job.module_id}", None),
    ]


async def test_unknown_message_versions_are_rejected(writer: Writer) -> None:
    """A job of a message version this Writer does not know is refused, naming the version."""
    with pytest.raises(InvalidRequest, match="version 99"):
        await writer.submit(dataclasses.replace(create(), version=99))


async def test_stopping_drains_queued_jobs_then_refuses_new_ones(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """Leaving ``async with`` finishes every queued job; afterwards submit is refused."""
    writer = Writer(repository, audit_key=AUDIT_KEY, metrics=metrics)
    async with writer:
        assert writer.running
        tasks = [asyncio.create_task(writer.submit(create(seed=str(i)))) for i in range(20)]
        await asyncio.sleep(0)
        assert writer.depth == 20
    assert not writer.running
    assert all(task.done() and task.result() is not None for task in tasks)
    assert await repository.inner.modules.count() == 20
    with pytest.raises(StorageUnavailable, match="not running"):
        await writer.submit(create())


async def test_if_the_consumer_dies_no_job_waits_forever(repository, metrics):
    """Should the consumer task ever die, queued jobs fail with StorageUnavailable and
    new ones are refused, instead of waiting for an answer that never comes."""
    writer = Writer(repository, audit_key=AUDIT_KEY, metrics=metrics)
    async with writer:

        def explode() -> None:
            raise RuntimeError("disk on fire")

        writer._report_depth = explode  # the consumer calls it outside its own guard
        pending = asyncio.ensure_future(writer.submit(create(uuid4())))
        with pytest.raises(StorageUnavailable, match="disk on fire"):
            await asyncio.wait_for(pending, timeout=10)
        assert not writer.running
        with pytest.raises(StorageUnavailable):
            await writer.submit(create(uuid4()))
        del writer._report_depth  # the class's own again, for a clean stop
