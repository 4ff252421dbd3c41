"""What a write job does: a pure check of one job against what it finds.

The Writer reads the current module (or API key), asks ``plan`` (``plan_key``,
``plan_touch``) what the job becomes (the storage changes to commit, the module as it
will then be, the event to publish) and commits the plans of a whole batch at once. No
I/O here, so every rule is tested directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from wess.errors import (
    AliasNotFound,
    KeyNotFound,
    ModuleNotFound,
    PreconditionFailed,
    RevisionNotFound,
)
from wess.messages import (
    ApiKeyChanged,
    ChangeKind,
    CreateApiKey,
    CreateModule,
    DeleteModule,
    ModuleChanged,
    ModuleJob,
    RemoveAlias,
    RevokeApiKey,
    SetAlias,
    StoreArtifact,
    TouchApiKeys,
    UpdateModule,
)
from wess.models import Alias, ApiKey, ModuleInfo, ModuleRecord, RevisionRef
from wess.security.tokens import touched
from wess.storage import (
    Change,
    PutApiKey,
    PutArtifact,
    PutModule,
    PutModuleInfo,
    PutRevision,
    RemoveApiKey,
    RemoveModule,
    RemoveRevision,
)

Event = ModuleChanged | ApiKeyChanged


@dataclass(frozen=True, slots=True)
class Planned:
    """What one valid job becomes: the changes to commit, the module after them (the
    answer to the caller), and the event to publish (None when nothing others cache
    changed)."""

    changes: tuple[Change, ...]
    info: ModuleInfo | None
    event: Event | None


DEFAULT_REVISIONS_KEPT = 10


def plan(
    job: ModuleJob,
    current: ModuleInfo | None,
    *,
    now: datetime,
    revisions_kept: int = DEFAULT_REVISIONS_KEPT,
) -> Planned:
    """Check ``job`` against ``current`` (the module as it stands) and say what it does.

    Raises ``PreconditionFailed`` for a create over an existing id, an ``if_match``
    that does not hold, or an artifact of bytes the module no longer holds;
    ``ModuleNotFound`` for a job about a module that is absent or lives in another
    namespace. An update keeps its new revision and the ``revisions_kept - 1`` before
    it, and every revision an alias points at; the others are pruned.
    """
    if isinstance(job, CreateModule):
        if current is not None:
            raise PreconditionFailed(
                f"module {job.module_id} already exists", module_id=str(job.module_id)
            )
        return _put(job, None, now=now, revisions_kept=revisions_kept)
    if isinstance(job, StoreArtifact):
        return _store_artifact(job, current)
    existing = _existing(job, current)
    if isinstance(job, UpdateModule):
        return _put(job, existing, now=now, revisions_kept=revisions_kept)
    if isinstance(job, SetAlias | RemoveAlias):
        return _alias(job, existing)
    event = ModuleChanged(
        change=ChangeKind.DELETED,
        module_id=existing.id,
        namespace=existing.namespace,
        revision=existing.revision,
        digest=None,
        previous_digest=existing.digest,
    )
    return Planned((RemoveModule(existing.id),), None, event)


def _existing(
    job: UpdateModule | DeleteModule | SetAlias | RemoveAlias, current: ModuleInfo | None
) -> ModuleInfo:
    if current is None or current.namespace != job.namespace:
        raise ModuleNotFound(f"module {job.module_id} not found", module_id=str(job.module_id))
    if_match = getattr(job, "if_match", None)
    if if_match is not None and if_match not in ("*", current.digest):
        raise PreconditionFailed(
            f"module {job.module_id} has digest {current.digest}, not {if_match}",
            module_id=str(job.module_id),
            digest=current.digest,
        )
    return current


def _store_artifact(job: StoreArtifact, current: ModuleInfo | None) -> Planned:
    if current is None:
        raise ModuleNotFound(f"module {job.module_id} not found", module_id=str(job.module_id))
    if all(ref.digest != job.artifact.digest for ref in current.retained):
        raise PreconditionFailed(
            f"module {job.module_id} retains no revision of {job.artifact.digest}, the "
            "bytes the artifact was compiled from",
            module_id=str(job.module_id),
            digest=current.digest,
        )
    return Planned((PutArtifact(job.module_id, job.artifact),), current, None)


def _put(
    job: CreateModule | UpdateModule,
    existing: ModuleInfo | None,
    *,
    now: datetime,
    revisions_kept: int,
) -> Planned:
    content = job.content
    namespace = job.namespace if existing is None else existing.namespace
    revision = 1 if existing is None else existing.revision + 1
    size = len(content.wasm)
    ref = RevisionRef(number=revision, digest=content.digest, size=size, created_at=now)
    snapshot = ModuleInfo(
        id=job.module_id,
        namespace=namespace,
        name=content.name,
        digest=content.digest,
        size=len(content.wasm),
        revision=revision,
        created_at=now if existing is None else existing.created_at,
        updated_at=now,
        functions=content.functions,
        default_function=content.default_function,
        legacy_metadata=content.legacy_metadata,
    )
    kept, pruned = retain(
        (*(() if existing is None else existing.retained), ref),
        aliases=() if existing is None else existing.aliases,
        keep=revisions_kept,
    )
    info = replace(snapshot, revisions=kept, aliases=() if existing is None else existing.aliases)
    previous = None if existing is None else existing.digest
    event = ModuleChanged(
        change=ChangeKind.CREATED if previous is None else ChangeKind.UPDATED,
        module_id=info.id,
        namespace=namespace,
        revision=revision,
        digest=info.digest,
        previous_digest=previous,
    )
    changes: tuple[Change, ...] = (
        PutModule(ModuleRecord(info=info, wasm=content.wasm)),
        PutRevision(ModuleRecord(info=snapshot, wasm=content.wasm)),
        *(RemoveRevision(info.id, gone.number) for gone in pruned),
    )
    artifact = content.artifact
    if artifact is not None and artifact.digest == content.digest:
        changes += (PutArtifact(job.module_id, artifact),)
    return Planned(changes, info, event)


def retain(
    revisions: tuple[RevisionRef, ...], *, aliases: tuple[Alias, ...], keep: int
) -> tuple[tuple[RevisionRef, ...], tuple[RevisionRef, ...]]:
    """(kept, pruned) of ``revisions`` (oldest first): the newest ``keep`` and every one
    an alias points at are kept."""
    pinned = {number for alias in aliases for number in alias.revisions}
    newest = {ref.number for ref in revisions[-max(keep, 1) :]}
    kept = tuple(ref for ref in revisions if ref.number in newest or ref.number in pinned)
    pruned = tuple(ref for ref in revisions if ref not in kept)
    return kept, pruned


def _alias(job: SetAlias | RemoveAlias, existing: ModuleInfo) -> Planned:
    others = tuple(alias for alias in existing.aliases if alias.name != job.alias)
    if isinstance(job, RemoveAlias):
        if len(others) == len(existing.aliases):
            raise AliasNotFound(
                f"module {job.module_id} has no alias {job.alias!r}",
                module_id=str(job.module_id),
                alias=job.alias,
            )
        aliases = others
    else:
        for target in job.targets:
            if existing.retained_revision(target.revision) is None:
                raise RevisionNotFound(
                    f"module {job.module_id} retains no revision {target.revision} "
                    f"(it retains {', '.join(str(r.number) for r in existing.retained)})",
                    module_id=str(job.module_id),
                    revision=target.revision,
                )
        aliases = tuple(sorted((*others, Alias(job.alias, job.targets)), key=lambda a: a.name))
    info = replace(existing, revisions=existing.retained, aliases=aliases)
    event = ModuleChanged(
        change=ChangeKind.UPDATED,
        module_id=existing.id,
        namespace=existing.namespace,
        revision=existing.revision,
        digest=existing.digest,
        previous_digest=existing.digest,
    )
    return Planned((PutModuleInfo(info),), info, event)


def plan_key(job: CreateApiKey | RevokeApiKey, current: ApiKey | None) -> Planned:
    """Check a key job against ``current`` (the key with that id, as it stands).

    Raises ``PreconditionFailed`` for a create over an existing id, ``KeyNotFound`` for
    a revoke of an absent key.
    """
    if isinstance(job, CreateApiKey):
        if current is not None:
            raise PreconditionFailed(f"API key {job.key.id} already exists", key_id=job.key.id)
        event = ApiKeyChanged(key_id=job.key.id, key=job.key)
        return Planned((PutApiKey(job.key),), None, event)
    if current is None:
        raise KeyNotFound(f"API key {job.key_id} not found", key_id=job.key_id)
    return Planned((RemoveApiKey(job.key_id),), None, ApiKeyChanged(key_id=job.key_id, key=None))


def plan_touch(job: TouchApiKeys, current: Mapping[str, ApiKey | None]) -> tuple[ApiKey, ...]:
    """The keys of ``job`` with their new last-used time: only those that still exist
    (``current`` maps every id of the job) and whose time moves forward."""
    keys: dict[str, ApiKey] = {}
    for key_id, at in job.last_used:
        key = keys.get(key_id) or current.get(key_id)
        if key is not None and (moved := touched(key, at)) is not key:
            keys[key_id] = moved
    return tuple(keys.values())
