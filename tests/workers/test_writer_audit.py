"""Writer: one audit entry per job that names an actor, in the same commit as its change."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from tests.storage.builders import AUDIT_KEY
from tests.workers.jobs import ALICE, create, delete, update
from wess.errors import ModuleNotFound, PreconditionFailed, StorageUnavailable
from wess.messages import Actor, DeleteModule, RecordAudit, StoreArtifact
from wess.models import AuditEntry, AuditFields, SealedArtifact
from wess.observability.metrics import Metrics
from wess.security.audit import verify
from wess.storage import AppendAudit, PutModule, PutRevision
from wess.testing import FakeClock, RecordingStore
from wess.workers.writer import Writer


@pytest.fixture
async def writer(repository: RecordingStore, metrics: Metrics) -> AsyncIterator[Writer]:
    async with Writer(
        repository, audit_key=AUDIT_KEY, metrics=metrics, clock=FakeClock(step=1)
    ) as writer:
        yield writer


async def audit_log(repository: RecordingStore) -> list[AuditEntry]:
    return await repository.inner.audit.list(after=0, limit=10_000)


async def test_an_audited_create_commits_its_entry_with_the_module(
    writer: Writer, repository: RecordingStore
) -> None:
    """One commit holds the module and its entry, whose fields say who did what, when
    (the Writer's clock, RFC 3339 UTC with microseconds), from where, and how it went."""
    job = create(namespace="team", actor=ALICE, request_id="req-1")
    await writer.submit(job)
    (changes,) = repository.committed
    assert [type(change) for change in changes] == [PutModule, PutRevision, AppendAudit]
    (entry,) = await audit_log(repository)
    assert changes[2] == AppendAudit(entry)
    assert (entry.seq, entry.time) == (1, "2025-06-01T00:00:01.000000Z")
    assert (entry.actor, entry.client_ip, entry.request_id) == (ALICE.name, "192.0.2.7", "req-1")
    assert (entry.namespace, entry.action, entry.target, entry.outcome) == (
        "team",
        "module.create",
        str(job.module_id),
        "ok",
    )


async def test_updates_and_deletes_are_audited_with_their_actions(
    writer: Writer, repository: RecordingStore
) -> None:
    """update and delete give module.update and module.delete, chained after the create."""
    job = create(actor=ALICE)
    await writer.submit(job)
    await writer.submit(update(job, actor=ALICE))
    await writer.submit(delete(job, actor=ALICE))
    entries = await audit_log(repository)
    assert [(e.action, e.target, e.outcome) for e in entries] == [
        ("module.create", str(job.module_id), "ok"),
        ("module.update", str(job.module_id), "ok"),
        ("module.delete", str(job.module_id), "ok"),
    ]
    assert verify(entries, key=AUDIT_KEY).ok


async def test_refused_jobs_leave_no_entry_and_valid_ones_one_each(
    writer: Writer, repository: RecordingStore
) -> None:
    """In one batch, each valid job gets its entry in the batch's one commit; a refused
    job commits nothing, entry included (its request records the refusal), and its
    caller gets the error."""
    job = create(actor=ALICE)
    missing = DeleteModule(module_id=uuid4(), namespace=job.namespace, actor=ALICE)
    results = await asyncio.gather(
        writer.submit(job),
        writer.submit(missing),
        writer.submit(create(job.module_id, seed="again", actor=ALICE)),
        writer.submit(update(job, actor=ALICE, if_match="sha256:" + "0" * 64)),
        writer.submit(create(seed="other", actor=ALICE)),
        return_exceptions=True,
    )
    assert [type(r) for r in results[1:4]] == [
        ModuleNotFound,
        PreconditionFailed,
        PreconditionFailed,
    ]
    assert repository.calls["commit"] == 1
    entries = await audit_log(repository)
    assert [(e.action, e.outcome) for e in entries] == [
        ("module.create", "ok"),
        ("module.create", "ok"),
    ]
    assert verify(entries, key=AUDIT_KEY).ok


async def test_a_batch_of_refused_jobs_commits_nothing(
    writer: Writer, repository: RecordingStore
) -> None:
    """With no valid job at all, nothing is committed."""
    with pytest.raises(ModuleNotFound):
        await writer.submit(DeleteModule(module_id=uuid4(), namespace="ns", actor=ALICE))
    assert repository.commit_sizes == []
    assert await audit_log(repository) == []


async def test_jobs_without_an_actor_are_not_audited(
    writer: Writer, repository: RecordingStore
) -> None:
    """Wess's own jobs (artifacts, usage) and actor-less module jobs leave no entry."""
    job = create()
    info = await writer.submit(job)
    assert info is not None
    artifact = SealedArtifact(digest=info.digest, flavor="f", data=b"aot")
    await writer.submit(StoreArtifact(module_id=job.module_id, artifact=artifact))
    with pytest.raises(ModuleNotFound):
        await writer.submit(DeleteModule(module_id=uuid4(), namespace="ns"))
    assert await audit_log(repository) == []
    assert repository.commit_sizes == [2, 1]  # the refused delete committed nothing


async def test_record_audit_appends_its_fields_as_they_are(
    writer: Writer, repository: RecordingStore
) -> None:
    """An audit-only job's fields (their own time included) become the next entry."""
    fields = AuditFields(
        time="2030-01-01T00:00:00.000000Z",
        actor="anonymous",
        namespace=None,
        action="auth.login",
        target=None,
        outcome="unauthenticated",
        request_id="r",
        client_ip="198.51.100.1",
    )
    await writer.submit(create(actor=ALICE))
    await writer.submit(RecordAudit(fields=fields))
    entries = await audit_log(repository)
    names = [field.name for field in dataclasses.fields(AuditFields)]
    assert AuditFields(**{name: getattr(entries[1], name) for name in names}) == fields
    assert verify(entries, key=AUDIT_KEY).ok


async def test_a_failed_commit_leaves_no_gap_in_the_chain(
    writer: Writer, repository: RecordingStore
) -> None:
    """When a commit fails, its entries are not stored and the head does not move: every
    valid job of the batch gets the storage error (a refused one its own error), and the
    next entry takes the sequence number the failed one would have had."""
    await writer.submit(create(actor=ALICE))
    repository.commit_error = StorageUnavailable("disk on fire")
    results = await asyncio.gather(
        writer.submit(create(seed="lost", actor=ALICE)),
        writer.submit(DeleteModule(module_id=uuid4(), namespace="ns", actor=ALICE)),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [StorageUnavailable, ModuleNotFound]
    repository.commit_error = None
    await writer.submit(create(seed="next", actor=ALICE))
    entries = await audit_log(repository)
    assert [e.seq for e in entries] == [1, 2]
    assert verify(entries, key=AUDIT_KEY).ok


async def test_a_commit_that_landed_but_failed_does_not_wedge_the_chain(
    writer: Writer, repository: RecordingStore
) -> None:
    """If a commit reached the store but reported failure, the Writer reads the head
    again before the next batch instead of reusing a sequence number."""
    repository.error_after_commit = StorageUnavailable("answer lost")
    with pytest.raises(StorageUnavailable):
        await writer.submit(create(seed="landed", actor=ALICE))
    repository.error_after_commit = None
    await writer.submit(create(seed="next", actor=ALICE))
    entries = await audit_log(repository)
    assert [e.seq for e in entries] == [1, 2]
    assert verify(entries, key=AUDIT_KEY).ok


async def test_the_chain_continues_from_the_stored_head_after_a_restart(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """A new Writer over the same store reads the head once and chains after it."""
    async with Writer(repository, audit_key=AUDIT_KEY, metrics=metrics) as first:
        await first.submit(create(seed="a", actor=ALICE))
        await first.submit(create(seed="b", actor=ALICE))
    async with Writer(repository, audit_key=AUDIT_KEY, metrics=metrics) as second:
        await second.submit(create(seed="c", actor=ALICE))
    entries = await audit_log(repository)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert verify(entries, key=AUDIT_KEY).ok
    assert repository.calls["audit.head"] == 2


async def test_entry_times_are_utc_with_microseconds(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """A clock in another zone is written as UTC, with all six digits of microseconds."""
    moment = datetime(2026, 1, 31, 14, 0, 0, 120, tzinfo=timezone(timedelta(hours=2)))
    async with Writer(
        repository, audit_key=AUDIT_KEY, metrics=metrics, clock=lambda: moment
    ) as writer:
        await writer.submit(create(actor=Actor(name="anonymous")))
    (entry,) = await audit_log(repository)
    assert entry.time == "2026-01-31T12:00:00.000120Z"
    assert (entry.actor, entry.client_ip) == ("anonymous", None)
    assert datetime.fromisoformat(entry.time) == moment.astimezone(UTC)
