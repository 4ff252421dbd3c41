"""What a write job does: a pure check of one job against what it finds.

The Writer reads the current module (or API key), asks ``plan`` (``plan_key``,
``plan_touch``) what the job becomes (the storage changes to commit, the module as it
will then be, the event to publish) and commits the plans of a whole batch at once. No
I/O here, so every rule is tested directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from wess.errors import KeyNotFound, ModuleNotFound, PreconditionFailed
from wess.messages import (
    ApiKeyChanged,
    ChangeKind,
    CreateApiKey,
    CreateModule,
    DeleteModule,
    ModuleChanged,
    ModuleJob,
    RevokeApiKey,
    StoreArtifact,
    TouchApiKeys,
    UpdateModule,
)
from wess.models import ApiKey, ModuleInfo, ModuleRecord
from wess.security.tokens import touched
from wess.storage import (
    Change,
    PutApiKey,
    PutArtifact,
    PutModule,
    RemoveApiKey,
    RemoveModule,
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


def plan(job: ModuleJob, current: ModuleInfo | None, *, now: datetime) -> Planned:
    """Check ``job`` against ``current`` (the module as it stands) and say what it does.

    Raises ``PreconditionFailed`` for a create over an existing id, an ``if_match``
    that does not hold, or an artifact of bytes the module no longer holds;
    ``ModuleNotFound`` for a job about a module that is absent or lives in another
    namespace.
    """
    if isinstance(job, CreateModule):
        if current is not None:
            raise PreconditionFailed(
                f"module {job.module_id} already exists", module_id=str(job.module_id)
            )
        return _put(job, job.namespace, revision=1, created=now, now=now, previous=None)
    if isinstance(job, StoreArtifact):
        return _store_artifact(job, current)
    existing = _existing(job, current)
    if isinstance(job, UpdateModule):
        return _put(
            job,
            existing.namespace,
            revision=existing.revision + 1,
            created=existing.created_at,
            now=now,
            previous=existing.digest,
        )
    event = ModuleChanged(
        change=ChangeKind.DELETED,
        module_id=existing.id,
        namespace=existing.namespace,
        revision=existing.revision,
        digest=None,
        previous_digest=existing.digest,
    )
    return Planned((RemoveModule(existing.id),), None, event)


def _existing(job: UpdateModule | DeleteModule, current: ModuleInfo | None) -> ModuleInfo:
    if current is None or current.namespace != job.namespace:
        raise ModuleNotFound(f"module {job.module_id} not found", module_id=str(job.module_id))
    if job.if_match is not None and job.if_match not in ("*", current.digest):
        raise PreconditionFailed(
            f"module {job.module_id} has digest {current.digest}, not {job.if_match}",
            module_id=str(job.module_id),
            digest=current.digest,
        )
    return current


def _store_artifact(job: StoreArtifact, current: ModuleInfo | None) -> Planned:
    if current is None:
        raise ModuleNotFound(f"module {job.module_id} not found", module_id=str(job.module_id))
    if current.digest != job.artifact.digest:
        raise PreconditionFailed(
            f"module {job.module_id} now holds {current.digest}, not the "
            f"{job.artifact.digest} the artifact was compiled from",
            module_id=str(job.module_id),
            digest=current.digest,
        )
    return Planned((PutArtifact(job.module_id, job.artifact),), current, None)


def _put(
    job: CreateModule | UpdateModule,
    namespace: str,
    *,
    revision: int,
    created: datetime,
    now: datetime,
    previous: str | None,
) -> Planned:
    content = job.content
    info = ModuleInfo(
        id=job.module_id,
        namespace=namespace,
        name=content.name,
        digest=content.digest,
        size=len(content.wasm),
        revision=revision,
        created_at=created,
        updated_at=now,
        functions=content.functions,
        default_function=content.default_function,
        legacy_metadata=content.legacy_metadata,
    )
    event = ModuleChanged(
        change=ChangeKind.CREATED if previous is None else ChangeKind.UPDATED,
        module_id=info.id,
        namespace=namespace,
        revision=revision,
        digest=info.digest,
        previous_digest=previous,
    )
    changes: tuple[Change, ...] = (PutModule(ModuleRecord(info=info, wasm=content.wasm)),)
    artifact = content.artifact
    if artifact is not None and artifact.digest == content.digest:
        changes += (PutArtifact(job.module_id, artifact),)
    return Planned(changes, info, event)


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
