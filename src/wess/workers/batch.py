"""One batch of write jobs, checked in order against the store and against each other.

Pure but for the reads of ``BatchPlan.read``, which the Writer runs inside the batch's
``transact`` (on the storage's thread): it reads what the jobs need at once (the
modules' infos in one multi-get, the API keys key jobs name). ``BatchPlan.add`` then
checks each job, in order, against the store and the batch's own earlier jobs, so a
create then an update of one id in one batch gives revision 2. Each job becomes a
``Step``: what it commits and the fields of its audit entry (if it names an actor), or
the error that refused it. A refused job commits nothing, its audit entry included: the
request it came from records the refusal, so each request leaves exactly one entry.
Quotas are checked here, against the usage as the earlier jobs of the batch leave it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from wess.errors import NameTaken
from wess.messages import (
    CreateApiKey,
    CreateModule,
    DeleteModule,
    RecordAudit,
    RecordUsage,
    RemoveAlias,
    RevokeApiKey,
    SetAlias,
    StoreArtifact,
    TouchApiKeys,
    UpdateModule,
)
from wess.models import ApiKey, AuditEntry, AuditFields, ModuleInfo, is_addressable_name
from wess.storage import AddUsage, AppendAudit, Change, PublishEvent, PutApiKey, StoreView
from wess.workers.audit_log import OK, audit_fields
from wess.workers.planning import DEFAULT_REVISIONS_KEPT, Planned, plan, plan_key, plan_touch
from wess.workers.quotas import UsageDraft

BatchJob = (
    CreateModule
    | UpdateModule
    | DeleteModule
    | SetAlias
    | RemoveAlias
    | StoreArtifact
    | RecordUsage
    | CreateApiKey
    | RevokeApiKey
    | TouchApiKeys
    | RecordAudit
)
"""Every job but ``RotateKek``, which runs between batches."""

MODULE_JOBS = (CreateModule, UpdateModule, DeleteModule, SetAlias, RemoveAlias, StoreArtifact)
CHARGED = (CreateModule, UpdateModule)
"""The jobs that may grow a namespace's usage (what quotas check)."""
"""The job types about one module (``ModuleJob``), for ``isinstance``."""


@dataclass(frozen=True, slots=True)
class Step:
    """One job of the batch: ``planned`` if it is valid, else the ``error`` refusing it;
    ``audit`` holds the fields of a valid job's entry (None: refused, or no actor)."""

    planned: Planned | None
    error: Exception | None
    audit: AuditFields | None


class BatchPlan:
    """The state a batch's jobs are checked against: the store, then the earlier jobs.

    ``read`` first (once, for the whole batch), then ``add`` each job in order.
    """

    def __init__(
        self,
        *,
        now: datetime,
        usage: UsageDraft | None,
        revisions_kept: int = DEFAULT_REVISIONS_KEPT,
    ) -> None:
        self._now = now
        self._usage = usage
        self._revisions_kept = revisions_kept
        self._modules: dict[UUID, ModuleInfo | None] = {}
        self._names: dict[tuple[str, str], UUID | None] = {}
        self._keys: dict[str, ApiKey | None] = {}
        self._unread: dict[object, Exception] = {}  # reads that failed, by id or name

    def charge_against(self, usage: UsageDraft) -> None:
        """Check quotas against ``usage`` (read in the batch's own transaction) rather
        than the usage the Writer keeps: other nodes share the store."""
        self._usage = usage

    @property
    def usage(self) -> UsageDraft | None:
        """The namespaces' usage after the valid jobs so far (None: no quotas)."""
        return self._usage

    def read(self, store: StoreView, jobs: Sequence[BatchJob]) -> None:
        """Read what ``jobs`` need before any is checked: the infos of their modules in
        one multi-get, then the API keys that key jobs name. A read that fails refuses
        only the jobs that need it: if the batch's read fails, each module is read
        alone to find which."""
        module_ids = [job.module_id for job in jobs if isinstance(job, MODULE_JOBS)]
        if module_ids:
            try:
                self._modules.update(store.get_infos(module_ids))
            except Exception:
                for module_id in dict.fromkeys(module_ids):
                    try:
                        self._modules.update(store.get_infos((module_id,)))
                    except Exception as exc:
                        self._unread[module_id] = exc
        names = list(dict.fromkeys(_names(jobs)))
        if names:
            try:
                self._names.update(store.find_names(names))
            except Exception as exc:
                for pair in names:
                    self._unread[pair] = exc
        for key_id in dict.fromkeys(_key_ids(jobs)):
            try:
                self._keys[key_id] = store.get_api_key(key_id)
            except Exception as exc:
                self._unread[key_id] = exc

    def add(self, job: BatchJob) -> Step:
        """Check ``job`` after the earlier ones; never raises for a refused job."""
        namespace: str | None = None
        try:
            if isinstance(job, RevokeApiKey) and (key := self._key(job.key_id)):
                namespace = key.namespace  # the revoked key's, for the audit entry
            planned, error = self._plan(job), None
        except Exception as exc:  # refused, or what it needs could not be read
            planned, error = None, exc
        if error is not None:  # the request path records the refusal (``Auditor``)
            return Step(None, error, None)
        fields = audit_fields(job, outcome=OK, now=self._now, namespace=namespace)
        return Step(planned, None, fields)

    def _plan(self, job: BatchJob) -> Planned:
        if isinstance(job, MODULE_JOBS):
            current_info = self._module(job.module_id)
            if isinstance(job, CreateModule | UpdateModule):
                self._check_name(job, current_info)
            planned = plan(job, current_info, now=self._now, revisions_kept=self._revisions_kept)
            if self._usage is not None and not isinstance(job, StoreArtifact):
                self._usage.charge(current_info, planned.info)
            self._modules[job.module_id] = planned.info
            self._rename(current_info, planned.info)
            return planned
        if isinstance(job, RecordUsage):  # the store drops counts of absent modules
            return Planned((AddUsage(job.counts),), None, None)
        if isinstance(job, RecordAudit):
            return Planned((), None, None)
        if isinstance(job, CreateApiKey | RevokeApiKey):
            key_id = job.key.id if isinstance(job, CreateApiKey) else job.key_id
            planned = plan_key(job, self._key(key_id))
            self._keys[key_id] = job.key if isinstance(job, CreateApiKey) else None
            return planned
        current = {key_id: self._key(key_id) for key_id, _ in job.last_used}
        keys = plan_touch(job, current)
        self._keys.update((key.id, key) for key in keys)
        return Planned(tuple(PutApiKey(key) for key in keys), None, None)

    def _check_name(self, job: CreateModule | UpdateModule, current: ModuleInfo | None) -> None:
        """``NameTaken`` when another module of the namespace holds the job's name."""
        name = job.content.name
        namespace = job.namespace if current is None else current.namespace
        if not is_addressable_name(name) or (current is not None and current.name == name):
            return  # unnamed, or kept (two modules may share one written before names were)
        pair = (namespace, name)
        if self._unread and pair in self._unread:
            raise self._unread[pair]
        holder = self._names.get(pair)
        if holder is not None and holder != job.module_id:
            raise NameTaken(
                f"namespace {namespace!r} has a module named {name!r} already ({holder}); "
                "choose another name, or replace that module (PUT /v1/modules/"
                f"{name})",
                name=name,
                module_id=str(holder),
            )

    def _rename(self, before: ModuleInfo | None, after: ModuleInfo | None) -> None:
        """Follow the names the batch's earlier jobs freed and took."""
        if before is not None and self._names.get((before.namespace, before.name)) == before.id:
            self._names[(before.namespace, before.name)] = None
        if after is not None and is_addressable_name(after.name):
            self._names.setdefault((after.namespace, after.name), after.id)
            if self._names[(after.namespace, after.name)] is None:
                self._names[(after.namespace, after.name)] = after.id

    def _module(self, module_id: UUID) -> ModuleInfo | None:
        if self._unread and module_id in self._unread:
            raise self._unread[module_id]
        return self._modules[module_id]

    def _key(self, key_id: str) -> ApiKey | None:
        if self._unread and key_id in self._unread:
            raise self._unread[key_id]
        return self._keys[key_id]


def _names(jobs: Sequence[BatchJob]) -> Iterator[tuple[str, str]]:
    """(namespace, name) of every create and update naming its module (an update's
    namespace is the module's, which the service read and put in the job)."""
    for job in jobs:
        if isinstance(job, CreateModule | UpdateModule) and is_addressable_name(job.content.name):
            yield job.namespace, job.content.name


def _key_ids(jobs: Sequence[BatchJob]) -> Iterator[str]:
    for job in jobs:
        if isinstance(job, CreateApiKey):
            yield job.key.id
        elif isinstance(job, RevokeApiKey):
            yield job.key_id
        elif isinstance(job, TouchApiKeys):
            yield from (key_id for key_id, _ in job.last_used)


def changes_of(
    steps: Sequence[Step], entries: Sequence[AuditEntry], *, announce: bool = False
) -> list[Change]:
    """One commit for the batch: each job's changes (and, to ``announce`` them to other
    nodes sharing the store, its event), then its audit entry (``entries`` holds one per
    step with ``audit``, in order)."""
    changes: list[Change] = []
    appended = iter(entries)
    for step in steps:
        if step.planned is not None:
            changes += step.planned.changes
            if announce and step.planned.event is not None:
                changes.append(PublishEvent(step.planned.event))
        if step.audit is not None:
            changes.append(AppendAudit(next(appended)))
    return changes
