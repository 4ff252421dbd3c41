"""Export and import through the storage Protocols and the Writer: round trips, twice
over, across namespaces and server secrets, and dumps that must not go in."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from tests.storage.builders import AUDIT_KEY, make_key
from tests.workers.jobs import ALICE, create
from wess.messages import CreateApiKey, RecordAudit
from wess.models import AuditFields
from wess.observability.metrics import Metrics
from wess.ops.exporting import ExportOptions, export_dump
from wess.ops.importing import Importer, ImportOptions, ImportReport, import_dump
from wess.security.audit import AuditKey, verify
from wess.storage import Store
from wess.storage.memory import MemoryStore
from wess.storage.records import encode_info
from wess.testing import FakeClock
from wess.workers.writer import Writer

OTHER_KEY = AuditKey(bytes(range(50, 82)))
"""The audit key of a server with another secret."""


@asynccontextmanager
async def server(key: AuditKey = AUDIT_KEY) -> AsyncIterator[tuple[Store, Writer]]:
    store = MemoryStore()
    async with Writer(store, audit_key=key, metrics=Metrics(), clock=FakeClock(step=1)) as writer:
        yield store, writer


async def fill(writer: Writer, *, modules: int = 3, namespace: str = "team-a") -> None:
    """Modules and a key written by ALICE: each leaves an audit entry."""
    for number in range(modules):
        await writer.submit(create(namespace=namespace, seed=f"m{number}", actor=ALICE))
    key_id = f"{sum(map(ord, namespace)):016x}"
    await writer.submit(CreateApiKey(key=make_key(key_id, namespace=namespace), actor=ALICE))


async def dump_of(store: Store, key: AuditKey = AUDIT_KEY, **options: object) -> list[bytes]:
    return [
        line
        async for line in export_dump(
            store,
            audit_chain=key.chain,
            wess_version="test",
            options=ExportOptions(**options),  # type: ignore[arg-type]
        )
    ]


async def load(
    lines: list[bytes], store: Store, writer: Writer, key: AuditKey = AUDIT_KEY, **options: object
) -> ImportReport:
    async def feed() -> AsyncIterator[bytes]:
        for line in lines:
            yield line

    async def summarize(fields: AuditFields) -> None:
        await writer.submit(RecordAudit(fields=fields))

    importer = Importer(
        actor="local:test",
        audit=store.audit,
        audit_chain=key.chain,
        submit=writer.submit,
        summarize=summarize,
    )
    return await import_dump(feed(), importer, options=ImportOptions(**options))  # type: ignore[arg-type]


async def everything(store: Store) -> tuple[object, ...]:
    modules = await store.modules.list(namespace=None, after=None, limit=1000)
    records = [await store.modules.get(info.id) for info in modules]
    return records, await store.keys.list(), await store.audit.list(after=0, limit=1000)


async def test_round_trip_keeps_modules_keys_and_the_audit_chain() -> None:
    """export -> import into an empty store with the same secret: byte-identical modules
    with the same ids and revisions, the same keys, the same audit entries (which still
    verify), then one store.import entry; exporting it again gives the same records."""
    async with server() as (source, writer):
        await fill(writer)
        lines = await dump_of(source)
        before = await everything(source)
    async with server() as (target, writer):
        report = await load(lines, target, writer)
        assert report.error is None
        assert report.counts["modules"]["imported"] == 3
        assert report.counts["audit"]["imported"] == 4
        records, keys, audit = await everything(target)
        assert (records, keys) == before[:2]
        assert audit[:-1] == before[2]
        assert (audit[-1].action, audit[-1].actor) == ("store.import", "local:test")
        assert verify(audit, key=AUDIT_KEY).ok
        again = await dump_of(target)
    assert again[1:5] == lines[1:5]  # the header's time differs; the modules do not


async def test_importing_twice_changes_nothing() -> None:
    """The second import of a dump finds every record present and writes nothing, not
    even a summary entry."""
    async with server() as (source, writer):
        await fill(writer)
        lines = await dump_of(source)
    async with server() as (target, writer):
        await load(lines, target, writer)
        state = await everything(target)
        second = await load(lines, target, writer)
        assert second.changed == 0
        assert second.counts["modules"]["present"] == 3
        assert second.counts["audit"]["present"] == 4
        assert await everything(target) == state


async def test_namespaces_are_mapped_for_modules_and_keys() -> None:
    """--map-namespace team-a=team-b moves the modules and keys of team-a."""
    async with server() as (source, writer):
        await fill(writer, modules=2)
        lines = await dump_of(source)
    async with server() as (target, writer):
        await load(lines, target, writer, namespaces={"team-a": "team-b"})
        assert await target.modules.count(namespace="team-b") == 2
        assert await target.modules.count(namespace="team-a") == 0
        assert [key.namespace for key in await target.keys.list()] == ["team-b"]


async def test_another_secret_skips_keys_and_refuses_the_audit_log() -> None:
    """Into a server with another secret, modules go in; key hashes (useless there) and
    audit entries (unverifiable there) are skipped with the reason, and the target's own
    log still verifies."""
    async with server() as (source, writer):
        await fill(writer)
        lines = await dump_of(source)
    async with server(OTHER_KEY) as (target, writer):
        report = await load(lines, target, writer, OTHER_KEY)
        assert report.counts["modules"]["imported"] == 3
        assert report.counts["keys"]["skipped"] == 1
        assert report.counts["audit"]["skipped"] == 4
        reasons = {item.kind: item.reason for item in report.named}
        assert "cannot verify here" in reasons["keys"]
        assert "--rechain-audit" in reasons["audit"]
        assert [item.id for item in report.named if item.kind == "audit"] == ["1-4"]
        assert await target.keys.list() == []
        log = await target.audit.list(after=0, limit=100)
        assert [entry.action for entry in log] == ["store.import"]
        assert verify(log, key=OTHER_KEY).ok


async def test_rechained_entries_carry_a_boundary_and_go_in_once() -> None:
    """--rechain-audit appends the foreign entries' fields under this server's key, then
    a boundary naming the chain, the range and the last hash; a second import finds the
    boundary and appends nothing."""
    async with server() as (source, writer):
        await fill(writer)
        lines = await dump_of(source)
        source_head = await source.audit.head()
    async with server(OTHER_KEY) as (target, writer):
        first = await load(lines, target, writer, OTHER_KEY, rechain_audit=True)
        assert first.counts["audit"]["imported"] == 4
        log = await target.audit.list(after=0, limit=100)
        assert [entry.action for entry in log[:4]] == ["module.create"] * 3 + ["key.create"]
        boundary = log[4]
        assert boundary.action == "audit.import"
        assert boundary.target == f"rechained {AUDIT_KEY.chain} 1-4 {source_head.hash}"
        assert verify(log, key=OTHER_KEY).ok
        second = await load(lines, target, writer, OTHER_KEY, rechain_audit=True)
        assert second.changed == 0
        assert second.counts["audit"]["present"] == 4
        assert len(await target.audit.list(after=0, limit=100)) == len(log)


async def test_since_exports_what_changed_and_the_log_from_then_on() -> None:
    """An export --since a moment holds the modules changed since and the audit log from
    then on. Imported after the full dump, the modules go in; the entries cannot continue
    the log as they are (the first import's own entry follows the source's), so they go
    in re-chained, once, and the log still verifies."""
    async with server() as (source, writer):
        await fill(writer, modules=2)
        full = await dump_of(source)
        head = await source.audit.head()
        assert head is not None
        cut = datetime.fromisoformat(head.time) + timedelta(milliseconds=1)
        await writer.submit(create(namespace="team-a", seed="late", actor=ALICE))
        newer = await dump_of(source, since=cut)
        late = await source.audit.head()
    assert sum(b'"type":"module"' in line for line in newer) == 1
    assert sum(b'"type":"audit"' in line for line in newer) == 1
    async with server() as (target, writer):
        await load(full, target, writer)
        plain = await load(newer, target, writer)
        assert plain.counts["modules"]["imported"] == 1
        assert plain.counts["audit"]["skipped"] == 1
        assert "diverged" in plain.named[0].reason
        rechained = await load(newer, target, writer, rechain_audit=True)
        assert rechained.counts["audit"]["imported"] == 1
        again = await load(newer, target, writer, rechain_audit=True)
        assert again.changed == 0
        log = await target.audit.list(after=0, limit=100)
        assert verify(log, key=AUDIT_KEY).ok
        assert [entry.action for entry in log[-3:]] == [
            "module.create",
            "audit.import",
            "store.import",
        ]
        assert log[-3].target == late.target


async def test_a_namespace_export_holds_only_that_namespace() -> None:
    """--namespace keeps one namespace's modules, keys and audit entries; its entries
    are an excerpt, which goes in only re-chained."""
    async with server() as (source, writer):
        await fill(writer, modules=2, namespace="team-a")
        await fill(writer, modules=1, namespace="team-b")
        lines = await dump_of(source, namespace="team-b")
    assert sum(b'"type":"module"' in line for line in lines) == 1
    async with server() as (target, writer):
        report = await load(lines, target, writer)
        assert report.counts["audit"]["skipped"] == 2
        assert "excerpt" in report.named[0].reason


async def test_a_damaged_dump_stops_where_it_shows_and_is_recorded() -> None:
    """A dump cut before its manifest: the records before the cut (each checked) are
    imported, the report says why it stopped, and the summary entry records the refusal."""
    async with server() as (source, writer):
        await fill(writer)
        lines = await dump_of(source)
    async with server() as (target, writer):
        report = await load(lines[:-1], target, writer)
        assert report.error is not None
        assert "cut short" in report.error
        assert report.counts["modules"]["imported"] == 3
        head = await target.audit.head()
        assert head is not None
        assert (head.action, head.outcome) == ("store.import", "invalid_request")


async def test_a_module_that_cannot_be_read_is_named_in_the_manifest() -> None:
    """An export steps over a module whose bytes fail their digest and names it; the
    import reports it as the source's loss."""
    async with server() as (source, writer):
        await fill(writer, modules=2)
        victim = (await source.modules.list(namespace=None, after=None, limit=1))[0]
        record = await source.modules.get(victim.id)
        assert record is not None
        bad = dataclasses.replace(record.info, digest="sha256:" + "0" * 64)
        source._t.records[str(victim.id)] = (encode_info(bad), record.wasm)  # type: ignore[attr-defined]
        lines = await dump_of(source)
    async with server() as (target, writer):
        report = await load(lines, target, writer)
        assert report.counts["modules"]["imported"] == 1
        assert [item.id for item in report.source_skipped] == [str(victim.id)]
