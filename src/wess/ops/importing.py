"""Importing a ``wess-export/1`` dump: every record checked, then written through a sink.

``import_dump`` reads the dump a line at a time (``dump.DumpReader`` checks each
module's bytes against its digest, the order of records, and the manifest at the end),
maps namespaces, and hands records in batches to ``submit``: the Writer's, as an
``ImportRecords`` job, online and offline alike, so the Writer's rules
(``workers.importing``) decide what is imported, what is present already and what
conflicts. Importing twice changes nothing the second time: every record is then
``present``.

What cannot work here is skipped, with the reason, before the Writer sees it:

- API keys hashed under another server secret (the dump's ``audit_chain`` is not this
  server's): their tokens could never verify here;
- audit entries that cannot continue this server's log as they are (another secret, a
  namespace's excerpt, a log that went its own way): unless ``rechain_audit``, which
  appends their fields chained under this server's key, each run followed by a boundary
  entry (``audit.import``) naming the chain, the sequence numbers and the last hash
  they came from; a second import finds that boundary and skips what it covers.

An import that changed something, or was refused part way, leaves one summary entry
(``store.import``) once it is done, through ``summarize``; one that found everything
present leaves none (twice the same import changes nothing). Pure but for the calls it is given.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from wess.errors import InvalidRequest, Overloaded
from wess.messages import Disposition, ImportRecords, ImportResult, RecordOutcome
from wess.models import ApiKey, AuditEntry, AuditFields, ModuleRecord, is_namespace_name
from wess.ops.dump import DumpError, DumpReader, Header, Revision, Skipped, renamed
from wess.storage import AuditStore

NAMED = 100
"""The most skipped or conflicting records a report names (its counts cover all)."""
BATCH_RECORDS = 64
BATCH_BYTES = 8 << 20
AUDIT_RUN = 500
BOUNDARY = "audit.import"
SUMMARY = "store.import"
_MARKER = re.compile(
    r"rechained (?P<chain>\S+) (?P<first>\d+)-(?P<last>\d+) (?P<hash>[0-9a-f]{64})"
    r"(?: namespace=(?P<namespace>.*))?"
)

T = TypeVar("T")
R = TypeVar("R")
Submit = Callable[[ImportRecords], Awaitable[ImportResult]]
Summarize = Callable[[AuditFields], Awaitable[None]]
Progress = Callable[[int, int], None]
"""Told (records read, bytes read) as the import goes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportOptions:
    namespaces: Mapping[str, str] = field(default_factory=dict)
    """Namespace in the dump -> namespace here, for modules and keys."""
    rechain_audit: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Importer:
    """Who imports (for the summary entry) and where to."""

    actor: str
    audit: AuditStore
    audit_chain: str
    """This server's ``AuditKey.chain``."""
    submit: Submit
    summarize: Summarize
    client_ip: str | None = None
    request_id: str | None = None


@dataclass
class ImportReport:
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {
            kind: {d.value: 0 for d in Disposition} for kind in ("modules", "keys", "audit")
        }
    )
    named: list[Skipped] = field(default_factory=list)
    """Conflicting and skipped records, with why (the first ``NAMED``)."""
    error: str | None = None
    """Why the dump was refused part way (the records before it were imported)."""
    source_skipped: list[Skipped] = field(default_factory=list)
    """What the export itself could not read (its manifest's ``skipped``)."""

    @property
    def changed(self) -> int:
        return sum(kind[Disposition.IMPORTED.value] for kind in self.counts.values())

    def note(self, kind: str, disposition: Disposition, ident: str, reason: str | None) -> None:
        self.counts[kind][disposition.value] += 1
        if reason is None or disposition in (Disposition.IMPORTED, Disposition.PRESENT):
            return
        last = self.named[-1] if self.named else None
        if kind == "audit" and last is not None and last.kind == "audit" and last.reason == reason:
            first = last.id.split("-", 1)[0]
            self.named[-1] = Skipped("audit", f"{first}-{ident.split('-')[-1]}", reason)
        elif len(self.named) < NAMED:
            self.named.append(Skipped(kind, ident, reason))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.error is None,
            "counts": self.counts,
            "changed": self.changed,
            "skipped": [item.to_dict() for item in self.named],
            "source_skipped": [item.to_dict() for item in self.source_skipped],
            "error": self.error,
        }


async def import_dump(
    lines: AsyncIterator[bytes],
    importer: Importer,
    *,
    options: ImportOptions = ImportOptions(),
    progress: Progress | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ImportReport:
    """Import the dump ``lines`` hold; the report says what became of each record.

    A malformed, reordered, altered or cut dump stops the import where that shows (the
    manifest, at the end, covers every byte): ``report.error`` says why, and the
    records before it, each checked on its own, stay imported.
    """
    report = ImportReport()
    reader = DumpReader()
    run = _Run(importer, options, report, now)
    read_bytes = 0
    try:
        async for line in lines:
            read_bytes += len(line)
            record = reader.feed(line)
            if isinstance(record, Header):
                await run.start(record)
            elif record is not None:
                await run.add(record)
            if progress is not None:
                progress(reader.lines, read_bytes)
        await run.flush()
        manifest = reader.finish()
        report.source_skipped = list(manifest.skipped)
    except DumpError as exc:
        await run.flush()
        report.error = exc.detail
    if report.changed or report.error is not None:
        await _retrying(importer.summarize, run.summary(report))
    return report


def namespace_map(pairs: list[str]) -> dict[str, str]:
    """``["a=b", ...]`` as ``{"a": "b"}``; ``InvalidRequest`` for a malformed pair."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not is_namespace_name(source) or not is_namespace_name(target):
            raise InvalidRequest(f"map={pair!r} is not from=to (two namespace names)", field="map")
        mapping[source] = target
    return mapping


class _Run:
    """The import under way: batches waiting for the sink, and what the audit log
    allows (decided from the header)."""

    def __init__(
        self,
        importer: Importer,
        options: ImportOptions,
        report: ImportReport,
        now: Callable[[], datetime],
    ) -> None:
        self._i = importer
        self._options = options
        self._report = report
        self._now = now
        self._header: Header | None = None
        self._keys_refused: str | None = None
        self._verbatim: str | None = None  # why entries cannot go in as they are
        self._refused: str | None = None  # why no further entry can go in at all
        self._rechaining = False  # whether the run in ``_audit`` is to be re-chained
        self._modules: list[ModuleRecord] = []
        self._revisions: list[ModuleRecord] = []  # older revisions of those modules
        self._module_bytes = 0
        self._keys: list[ApiKey] = []
        self._audit: list[AuditEntry] = []
        self._stored: dict[int, str] = {}  # seq -> hash of entries the log holds, a page
        self._head: int = 0
        self._covered: tuple[int, str | None] = (0, None)  # re-chained before: (last, hash)

    async def start(self, header: Header) -> None:
        self._header = header
        foreign = header.audit_chain != self._i.audit_chain
        if foreign:
            self._keys_refused = (
                f"hashed under another server secret ({header.audit_chain}; this server "
                f"is {self._i.audit_chain}): its token cannot verify here; mint a new key"
            )
        if header.audit_excerpt:
            self._verbatim = f"namespace {header.namespace!r}'s excerpt of the log is no chain"
        elif foreign:
            self._verbatim = f"MACed under another server secret ({header.audit_chain})"
        if self._options.rechain_audit:
            self._covered = await self._rechained_before(header)
        head = await self._i.audit.head()
        self._head = 0 if head is None else head.seq

    async def add(self, record: ModuleRecord | Revision | ApiKey | AuditEntry) -> None:
        if isinstance(record, ModuleRecord):
            # a module goes in the batch of its revisions (which follow it)
            if len(self._modules) >= BATCH_RECORDS or self._module_bytes >= BATCH_BYTES:
                await self.flush()
            self._modules.append(renamed(record, dict(self._options.namespaces)))
            self._module_bytes += record.info.size
        elif isinstance(record, Revision):
            self._revisions.append(renamed(record.record, dict(self._options.namespaces)))
            self._module_bytes += record.record.info.size
        elif isinstance(record, ApiKey):
            await self._flush_modules()
            if self._keys_refused is not None:
                self._report.note("keys", Disposition.SKIPPED, record.id, self._keys_refused)
                return
            self._keys.append(renamed(record, dict(self._options.namespaces)))
            if len(self._keys) >= BATCH_RECORDS * 4:
                await self.flush()
        else:
            await self._flush_modules()
            await self._flush_keys()
            await self._add_audit(record)

    async def flush(self) -> None:
        await self._flush_modules()
        await self._flush_keys()
        await self._flush_audit()

    async def _flush_modules(self) -> None:
        if self._modules:
            job = ImportRecords(modules=tuple(self._modules), revisions=tuple(self._revisions))
            await self._send(job)
            self._modules, self._revisions, self._module_bytes = [], [], 0

    async def _flush_keys(self) -> None:
        if self._keys:
            await self._send(ImportRecords(keys=tuple(self._keys)))
            self._keys = []

    async def _add_audit(self, entry: AuditEntry) -> None:
        """Present (this log holds it, or an earlier import re-chained it), appended as it
        is (it continues this log), re-chained (``rechain_audit``), or skipped."""
        seq = str(entry.seq)
        if self._refused is not None:
            self._report.note("audit", Disposition.SKIPPED, seq, self._refused)
            return
        if entry.seq <= self._head and await self._stored_hash(entry.seq) == entry.hash:
            self._report.note("audit", Disposition.PRESENT, seq, None)
            return
        last, last_hash = self._covered
        if entry.seq < last or (entry.seq == last and entry.hash == last_hash):
            self._report.note("audit", Disposition.PRESENT, seq, None)
            return
        if entry.seq == last:
            self._refused = f"an earlier import re-chained another entry {last} of this chain"
            await self._add_audit(entry)
            return
        if self._verbatim is None and entry.seq <= self._head:
            self._verbatim = f"this log holds another entry {entry.seq}: the logs diverged"
        if self._verbatim is None:
            await self._queue(entry, rechain=False)
        elif self._options.rechain_audit:
            await self._queue(entry, rechain=True)
        else:
            why = f"{self._verbatim}; --rechain-audit appends it under this server's key"
            self._report.note("audit", Disposition.SKIPPED, seq, why)

    async def _queue(self, entry: AuditEntry, *, rechain: bool) -> None:
        if self._audit and self._rechaining != rechain:
            await self._flush_audit()
        self._rechaining = rechain
        self._audit.append(entry)
        if len(self._audit) >= AUDIT_RUN:
            await self._flush_audit()

    async def _flush_audit(self) -> None:
        if not self._audit:
            return
        run = tuple(self._audit)
        self._audit = []
        if not self._rechaining:
            outcome = (await self._send(ImportRecords(audit=run), note=False))[0]
            if outcome.disposition is not Disposition.CONFLICT:
                self._note_run(run, outcome)
                return
            self._verbatim = outcome.reason  # the log moved on meanwhile
            if not self._options.rechain_audit:
                self._note_run(run, outcome)
                return
        job = ImportRecords(audit=run, rechain_audit=True, boundary=self._boundary(run))
        self._note_run(run, (await self._send(job, note=False))[0])
        self._covered = (run[-1].seq, run[-1].hash)

    def _note_run(self, run: tuple[AuditEntry, ...], outcome: RecordOutcome) -> None:
        for entry in run:
            self._report.note("audit", outcome.disposition, str(entry.seq), outcome.reason)

    async def _send(self, job: ImportRecords, *, note: bool = True) -> list[RecordOutcome]:
        result = await _retrying(self._i.submit, job)
        for outcome in result.outcomes if note else ():
            kind = "modules" if outcome.kind == "module" else "keys"
            self._report.note(kind, outcome.disposition, outcome.id, outcome.reason)
        return list(result.outcomes)

    async def _stored_hash(self, seq: int) -> str | None:
        if seq not in self._stored:
            page = await self._i.audit.list(after=seq - 1, limit=AUDIT_RUN)
            self._stored = {entry.seq: entry.hash for entry in page}
        return self._stored.get(seq)

    async def _rechained_before(self, header: Header) -> tuple[int, str | None]:
        """The last entry of this dump's chain an earlier import re-chained here."""
        found: tuple[int, str | None] = (0, None)
        after = 0
        while page := await self._i.audit.list(after=after, limit=AUDIT_RUN):
            for entry in page:
                marker = _MARKER.fullmatch(entry.target or "") if entry.action == BOUNDARY else None
                if (
                    marker is not None
                    and marker["chain"] == header.audit_chain
                    and marker["namespace"] == header.namespace
                    and int(marker["last"]) > found[0]
                ):
                    found = (int(marker["last"]), marker["hash"])
            after = page[-1].seq
        return found

    def _boundary(self, run: tuple[AuditEntry, ...]) -> AuditFields:
        assert self._header is not None
        marker = f"rechained {self._header.audit_chain} {run[0].seq}-{run[-1].seq} {run[-1].hash}"
        if self._header.namespace is not None:
            marker += f" namespace={self._header.namespace}"
        return self._fields(BOUNDARY, marker)

    def summary(self, report: ImportReport) -> AuditFields:
        header = self._header
        parts = [
            f"{kind}={c['imported']}+{c['present']}p+{c['conflict']}c+{c['skipped']}s"
            for kind, c in report.counts.items()
        ]
        source = "a dump" if header is None else f"dump of {header.created_at}"
        return self._fields(SUMMARY, f"{source}: {' '.join(parts)}", error=report.error)

    def _fields(self, action: str, target: str, *, error: str | None = None) -> AuditFields:
        return AuditFields(
            time=self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            actor=self._i.actor,
            namespace=None,
            action=action,
            target=target,
            outcome="ok" if error is None else DumpError.code,
            request_id=self._i.request_id,
            client_ip=self._i.client_ip,
        )


async def _retrying(call: Callable[[T], Awaitable[R]], job: T) -> R:
    """``call(job)``, waiting and trying again while the Writer's queue is full."""
    delay = 0.05
    while True:
        try:
            return await call(job)
        except Overloaded:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
