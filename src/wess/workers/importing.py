"""What an ``ImportRecords`` job does to the store: a pure check of each record.

An import keeps what it brings as it was exported (ids, revisions, times, key hashes,
audit entries), so its records do not go through ``planning.plan``, which makes
revisions and times of its own. Each record meets what the store holds under its id:

- a module the store lacks is put as exported (``ModuleChanged`` created); one it holds
  in the same namespace at the same revision and digest is ``present``; one it holds
  at a lower revision in the same namespace is replaced (updated); anything else (a
  newer or another revision, another namespace) is a ``conflict``, left alone;
- a key the store lacks is put (``ApiKeyChanged``, so the verifier knows it at once);
  one it holds with the same hash, namespace and role is ``present``; else a conflict;
- the audit run is appended as it is only if it continues the log's head and every
  entry verifies under the Writer's key (the export came from a store with this
  server's secret); else the whole run is a conflict. ``rechain_audit`` instead
  appends the entries' fields chained anew after the head, under the key, then the
  job's ``boundary`` entry, which records where they came from.

Quotas hold for imports as for uploads: a module past its namespace's quota is a
conflict. No I/O: the Writer reads what the plan needs and commits what it answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal
from uuid import UUID

from wess.errors import QuotaExceeded
from wess.messages import (
    ApiKeyChanged,
    ChangeKind,
    Disposition,
    ImportRecords,
    ModuleChanged,
    RecordOutcome,
)
from wess.models import ApiKey, AuditEntry, AuditFields, ModuleInfo, ModuleRecord
from wess.security.audit import AuditKey, ChainCheck, chain
from wess.storage import AppendAudit, Change, PutApiKey, PutModule, PutRevision
from wess.workers.quotas import UsageDraft

Event = ModuleChanged | ApiKeyChanged


@dataclass(slots=True)
class ImportPlan:
    """The changes to commit, the events to publish after, an outcome per record, and
    the audit entries appended (the Writer's new head is the last)."""

    changes: list[Change] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    outcomes: list[RecordOutcome] = field(default_factory=list)
    entries: list[AuditEntry] = field(default_factory=list)

    def outcome(
        self,
        kind: Literal["module", "key", "audit"],
        ident: str,
        disposition: Disposition,
        reason: str | None = None,
    ) -> None:
        self.outcomes.append(
            RecordOutcome(kind=kind, id=ident, disposition=disposition, reason=reason)
        )


def plan_import(
    job: ImportRecords,
    *,
    modules: Mapping[UUID, ModuleInfo | None],
    keys: Mapping[str, ApiKey | None],
    head: AuditEntry | None,
    audit_key: AuditKey,
    usage: UsageDraft | None,
) -> ImportPlan:
    """What ``job`` does, given the stored ``modules`` and ``keys`` it names and the
    audit log's ``head``; ``usage`` (None: no quotas) is charged for every module put."""
    result = ImportPlan()
    seen: dict[UUID, ModuleInfo | None] = dict(modules)
    older: dict[UUID, dict[int, ModuleRecord]] = {}
    for revision in job.revisions:
        older.setdefault(revision.info.id, {})[revision.info.revision] = revision
    for record in job.modules:
        _module(result, kept_revisions(record, older.get(record.info.id, {})), seen, usage)
    known: dict[str, ApiKey | None] = dict(keys)
    for key in job.keys:
        _key(result, key, known)
    if job.audit:
        _audit(result, job, head, audit_key)
    return result


@dataclass(frozen=True, slots=True)
class Imported:
    """A module as an import stores it: its record, retaining only the revisions whose
    bytes came with it (an alias pointing elsewhere is dropped), and those revisions
    (its current one first)."""

    head: ModuleRecord
    revisions: tuple[ModuleRecord, ...]

    @property
    def info(self) -> ModuleInfo:
        return self.head.info


def kept_revisions(record: ModuleRecord, older: Mapping[int, ModuleRecord]) -> Imported:
    info = record.info
    current = ModuleRecord(info=replace(info, revisions=(), aliases=()), wasm=record.wasm)
    if not info.revisions:  # a record from before revisions: kept as exported
        return Imported(head=record, revisions=(current,))
    kept = tuple(
        ref
        for ref in info.retained
        if ref.number == info.revision
        or (ref.number in older and older[ref.number].info.digest == ref.digest)
    )
    if not any(ref.number == info.revision for ref in kept):  # a record without the list
        kept = (*kept, info.retained[-1])
    numbers = {ref.number for ref in kept}
    aliases = tuple(a for a in info.aliases if set(a.revisions) <= numbers)
    head = ModuleRecord(info=replace(info, revisions=kept, aliases=aliases), wasm=record.wasm)
    revisions = (current, *(older[n] for n in sorted(numbers) if n != info.revision))
    return Imported(head=head, revisions=revisions)


def _module(
    result: ImportPlan,
    record: Imported,
    seen: dict[UUID, ModuleInfo | None],
    usage: UsageDraft | None,
) -> None:
    info = record.info
    ident = str(info.id)
    current = seen.get(info.id)
    if current is not None:
        if current.namespace != info.namespace:
            why = f"the store holds module {ident} in namespace {current.namespace!r}"
            result.outcome("module", ident, Disposition.CONFLICT, why)
            return
        if current.revision == info.revision and current.digest == info.digest:
            result.outcome("module", ident, Disposition.PRESENT)
            return
        if current.revision >= info.revision:
            why = (
                f"the store holds revision {current.revision} ({current.digest}); the dump "
                f"has revision {info.revision} ({info.digest})"
            )
            result.outcome("module", ident, Disposition.CONFLICT, why)
            return
    if usage is not None:
        try:
            usage.charge(current, info)
        except QuotaExceeded as exc:
            result.outcome("module", ident, Disposition.CONFLICT, exc.detail)
            return
    seen[info.id] = info
    result.changes.append(PutModule(record.head))
    result.changes.extend(PutRevision(revision) for revision in record.revisions)
    result.events.append(
        ModuleChanged(
            change=ChangeKind.CREATED if current is None else ChangeKind.UPDATED,
            module_id=info.id,
            namespace=info.namespace,
            revision=info.revision,
            digest=info.digest,
            previous_digest=None if current is None else current.digest,
        )
    )
    result.outcome("module", ident, Disposition.IMPORTED)


def _key(result: ImportPlan, key: ApiKey, known: dict[str, ApiKey | None]) -> None:
    current = known.get(key.id)
    if current is not None:
        same = (current.hash, current.namespace, current.role) == (
            key.hash,
            key.namespace,
            key.role,
        )
        if same:
            result.outcome("key", key.id, Disposition.PRESENT)
        else:
            why = f"the store holds another key {key.id} ({current.role} in {current.namespace!r})"
            result.outcome("key", key.id, Disposition.CONFLICT, why)
        return
    known[key.id] = key
    result.changes.append(PutApiKey(key))
    result.events.append(ApiKeyChanged(key_id=key.id, key=key))
    result.outcome("key", key.id, Disposition.IMPORTED)


def _audit(result: ImportPlan, job: ImportRecords, head: AuditEntry | None, key: AuditKey) -> None:
    run = job.audit
    ident = f"{run[0].seq}-{run[-1].seq}"
    if job.rechain_audit:
        entries: list[AuditEntry] = []
        previous = head
        fields = [fields_of(entry) for entry in run]
        for item in [*fields, *([job.boundary] if job.boundary is not None else [])]:
            previous = chain(previous, item, key=key)
            entries.append(previous)
    else:
        problem = continuation_problem(run, head, key)
        if problem is not None:
            result.outcome("audit", ident, Disposition.CONFLICT, problem)
            return
        entries = list(run)
    result.entries = entries
    result.changes += [AppendAudit(entry) for entry in entries]
    result.outcome("audit", ident, Disposition.IMPORTED)


def continuation_problem(
    run: tuple[AuditEntry, ...], head: AuditEntry | None, key: AuditKey
) -> str | None:
    """Why ``run`` cannot be appended as it is after ``head`` (None: it can)."""
    expected = 1 if head is None else head.seq + 1
    if run[0].seq != expected:
        return f"the log's next entry is {expected}; the dump's run starts at {run[0].seq}"
    check = ChainCheck(key=key, after=head)
    check.feed(run)
    verdict = check.result()
    if not verdict.ok:
        reason = verdict.reason.value if verdict.reason is not None else "broken"
        return f"the dump's entry {verdict.broken_at} does not continue the log here ({reason})"
    return None


def fields_of(entry: AuditEntry) -> AuditFields:
    """What an entry says, without its place in a chain."""
    return AuditFields(
        time=entry.time,
        actor=entry.actor,
        namespace=entry.namespace,
        action=entry.action,
        target=entry.target,
        outcome=entry.outcome,
        request_id=entry.request_id,
        client_ip=entry.client_ip,
        count=entry.count,
    )
