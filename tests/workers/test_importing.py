"""Imports through the Writer: each record kept as exported, or left alone with a reason."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from tests.storage.builders import AUDIT_KEY, make_entries, make_key, make_record, unique_wasm
from wess.messages import (
    ChangeKind,
    Disposition,
    ImportRecords,
    ModuleChanged,
)
from wess.models import AuditFields, ModuleRecord, digest_of
from wess.observability.metrics import Metrics
from wess.security.audit import AuditKey, verify
from wess.testing import FakeClock, RecordingStore
from wess.workers.quotas import NamespaceQuotas, Quota
from wess.workers.writer import Writer


@pytest.fixture
async def writer(repository: RecordingStore, metrics: Metrics) -> AsyncIterator[Writer]:
    async with Writer(
        repository, audit_key=AUDIT_KEY, metrics=metrics, clock=FakeClock(step=1)
    ) as writer:
        yield writer


def revised(record: ModuleRecord, *, revision: int, seed: str) -> ModuleRecord:
    body = unique_wasm(seed)
    info = dataclasses.replace(
        record.info, revision=revision, digest=digest_of(body), size=len(body)
    )
    return ModuleRecord(info=info, wasm=body)


async def test_modules_are_kept_as_exported_and_published(
    writer: Writer, repository: RecordingStore
) -> None:
    """An absent module is stored with its id, revision and times as they were, a
    ModuleChanged(created) goes out, and no audit entry is written for it."""
    events: list[ModuleChanged] = []
    writer.subscribe(events.append)
    record = make_record(revision=7)
    result = await writer.submit(ImportRecords(modules=(record,)))
    assert [o.disposition for o in result.outcomes] == [Disposition.IMPORTED]
    assert await repository.inner.modules.get(record.id) == record
    assert [(e.change, e.revision) for e in events] == [(ChangeKind.CREATED, 7)]
    assert await repository.inner.audit.head() is None


async def test_a_second_import_finds_everything_present(
    writer: Writer, repository: RecordingStore
) -> None:
    """The same records twice: the second time each is present and nothing is committed."""
    job = ImportRecords(modules=(make_record(),), keys=(make_key(),))
    await writer.submit(job)
    commits = len(repository.committed)
    again = await writer.submit(job)
    assert {o.disposition for o in again.outcomes} == {Disposition.PRESENT}
    assert len(repository.committed) == commits


async def test_an_older_revision_is_replaced_and_a_newer_one_kept(writer: Writer) -> None:
    """The dump's revision 3 replaces a stored revision 2 (updated); a stored revision 3
    with other bytes, or a newer one, is a conflict that names both."""
    old = make_record(revision=2)
    await writer.submit(ImportRecords(modules=(old,)))
    newer = revised(old, revision=3, seed="three")
    replaced = await writer.submit(ImportRecords(modules=(newer,)))
    assert replaced.outcomes[0].disposition is Disposition.IMPORTED
    other = revised(old, revision=3, seed="other")
    clash = await writer.submit(ImportRecords(modules=(other, old)))
    assert [o.disposition for o in clash.outcomes] == [Disposition.CONFLICT] * 2
    assert "revision 3" in (clash.outcomes[0].reason or "")


async def test_a_module_of_another_namespace_is_a_conflict(writer: Writer) -> None:
    """Ids are global: the same id in another namespace is never overwritten."""
    record = make_record(namespace="team-a")
    await writer.submit(ImportRecords(modules=(record,)))
    moved = ModuleRecord(
        info=dataclasses.replace(record.info, namespace="team-b", revision=2), wasm=record.wasm
    )
    result = await writer.submit(ImportRecords(modules=(moved,)))
    assert result.outcomes[0].disposition is Disposition.CONFLICT
    assert "team-a" in (result.outcomes[0].reason or "")


async def test_quotas_hold_for_imports(repository: RecordingStore, metrics: Metrics) -> None:
    """A module past its namespace's quota is a conflict with the quota's reason."""
    quotas = NamespaceQuotas(default=Quota(max_modules=1))
    async with Writer(repository, audit_key=AUDIT_KEY, metrics=metrics, quotas=quotas) as writer:
        result = await writer.submit(ImportRecords(modules=(make_record(), make_record())))
    assert [o.disposition for o in result.outcomes] == [
        Disposition.IMPORTED,
        Disposition.CONFLICT,
    ]
    assert "quota" in (result.outcomes[1].reason or "")


async def test_keys_are_published_and_a_different_key_is_a_conflict(writer: Writer) -> None:
    """A new key reaches the key listeners (so its token verifies at once); another
    record under a stored id is left alone."""
    seen: list[str] = []
    writer.subscribe_keys(lambda event: seen.append(event.key_id))
    key = make_key("00000000000000aa")
    first = await writer.submit(ImportRecords(keys=(key,)))
    clash = await writer.submit(ImportRecords(keys=(dataclasses.replace(key, hash="ff" * 32),)))
    assert first.outcomes[0].disposition is Disposition.IMPORTED
    assert seen == [key.id]
    assert clash.outcomes[0].disposition is Disposition.CONFLICT


async def test_an_audit_run_that_continues_the_log_is_appended_verbatim(
    writer: Writer, repository: RecordingStore
) -> None:
    """Entries MACed under the Writer's key that continue its head are kept as they are,
    and the Writer's own next entry follows them."""
    entries = make_entries(5)
    result = await writer.submit(ImportRecords(audit=tuple(entries)))
    assert result.audit_appended == 5
    assert await repository.inner.audit.list(after=0, limit=10) == entries
    assert writer.audit_head == entries[-1]


@pytest.mark.parametrize(
    ("run", "why"),
    [
        (lambda entries: entries[1:], "starts at 2"),
        (lambda entries: [entries[0], entries[2]], "does not continue"),
    ],
)
async def test_an_audit_run_that_does_not_continue_the_log_is_refused_whole(
    writer: Writer, repository: RecordingStore, run, why
) -> None:
    """A run with a gap, or that starts past the log's next entry, commits nothing."""
    entries = make_entries(3)
    result = await writer.submit(ImportRecords(audit=tuple(run(entries))))
    assert result.outcomes[0].disposition is Disposition.CONFLICT
    assert why in (result.outcomes[0].reason or "")
    assert await repository.inner.audit.head() is None


async def test_foreign_entries_are_refused_unless_rechained(
    writer: Writer, repository: RecordingStore
) -> None:
    """Entries MACed under another key never go in as they are; re-chained, their fields
    are kept under the Writer's key and the boundary entry follows them."""
    foreign = AuditKey(bytes(range(100, 132)))
    entries = make_entries(2)
    theirs = [dataclasses.replace(entry, chain=foreign.chain) for entry in entries]
    refused = await writer.submit(ImportRecords(audit=tuple(theirs)))
    assert refused.outcomes[0].disposition is Disposition.CONFLICT
    boundary = AuditFields(
        time="2025-01-02T03:04:05.000000Z",
        actor="local:test",
        namespace=None,
        action="audit.import",
        target="rechained",
        outcome="ok",
        request_id=None,
        client_ip=None,
    )
    taken = await writer.submit(
        ImportRecords(audit=tuple(theirs), rechain_audit=True, boundary=boundary)
    )
    assert taken.audit_appended == 3
    stored = await repository.inner.audit.list(after=0, limit=10)
    assert [e.target for e in stored] == ["target-1", "target-2", "rechained"]
    assert verify(stored, key=AUDIT_KEY).ok
