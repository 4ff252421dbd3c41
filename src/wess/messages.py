"""Typed, versioned messages between the workers.

Jobs flow into the Writer; ``ModuleChanged`` events flow out of it to whoever
subscribed (the Reader's cache, the Runner's compiled-module cache, and later other
nodes). Each carries ``version`` so a consumer can refuse a layout it does not know
once messages cross process boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from wess.models import (
    AliasTarget,
    ApiKey,
    AuditEntry,
    AuditFields,
    FunctionSignature,
    LegacyMetadata,
    ModuleRecord,
    SealedArtifact,
)

MESSAGE_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleContent:
    """An upload that passed validation: the bytes and what was read from them."""

    name: str
    wasm: bytes
    digest: str
    functions: tuple[FunctionSignature, ...]
    default_function: str | None = None
    legacy_metadata: LegacyMetadata | None = None
    artifact: SealedArtifact | None = None
    """The module compiled while it was validated, committed in the same batch."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who asked for a change, as the audit log names them.

    ``name`` is ``api_key:<id>``, ``jwt:<sub>``, or ``anonymous`` when authentication
    is off. A job with an actor gets exactly one audit entry, in the same atomic batch
    as its change (or alone, with the error's code as outcome, when it is refused).
    Jobs without one (artifacts, usage counts) are Wess's own housekeeping.
    """

    name: str
    client_ip: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateModule:
    """Store a new module under ``module_id`` (revision 1)."""

    module_id: UUID
    namespace: str
    content: ModuleContent
    request_id: str | None = None
    actor: Actor | None = None
    version: int = MESSAGE_VERSION
    kind: Literal["create"] = "create"


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateModule:
    """Replace a module's content (revision + 1); ``if_match`` is the digest it must have now."""

    module_id: UUID
    namespace: str
    content: ModuleContent
    if_match: str | None = None
    request_id: str | None = None
    actor: Actor | None = None
    version: int = MESSAGE_VERSION
    kind: Literal["update"] = "update"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteModule:
    """Remove a module; ``if_match`` is the digest it must have now."""

    module_id: UUID
    namespace: str
    if_match: str | None = None
    request_id: str | None = None
    actor: Actor | None = None
    version: int = MESSAGE_VERSION
    kind: Literal["delete"] = "delete"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetAlias:
    """Point the module's alias ``alias`` at ``targets`` (one revision, or a weighted
    split between several), creating or moving it; every revision must be retained."""

    module_id: UUID
    namespace: str
    alias: str
    targets: tuple[AliasTarget, ...]
    request_id: str | None = None
    actor: Actor | None = None
    version: int = MESSAGE_VERSION
    kind: Literal["set_alias"] = "set_alias"


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveAlias:
    """Forget the module's alias ``alias`` (``AliasNotFound`` if it has none)."""

    module_id: UUID
    namespace: str
    alias: str
    request_id: str | None = None
    actor: Actor | None = None
    version: int = MESSAGE_VERSION
    kind: Literal["remove_alias"] = "remove_alias"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreArtifact:
    """Keep an artifact compiled after the upload (say, for a new wasmtime) beside its
    module; refused unless the module still holds the bytes it was compiled from."""

    module_id: UUID
    artifact: SealedArtifact
    request_id: str | None = None
    version: int = MESSAGE_VERSION
    kind: Literal["store_artifact"] = "store_artifact"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordUsage:
    """Add invocation counts, gathered in memory since the last flush, to the store."""

    counts: tuple[tuple[UUID, int], ...]
    version: int = MESSAGE_VERSION
    kind: Literal["record_usage"] = "record_usage"


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateApiKey:
    """Store a new API key (its hash only; the token was shown once to its creator)."""

    key: ApiKey
    actor: Actor
    request_id: str | None = None
    version: int = MESSAGE_VERSION
    kind: Literal["create_key"] = "create_key"


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeApiKey:
    """Delete an API key: refused at once by every check after the commit."""

    key_id: str
    actor: Actor
    request_id: str | None = None
    version: int = MESSAGE_VERSION
    kind: Literal["revoke_key"] = "revoke_key"


@dataclass(frozen=True, slots=True, kw_only=True)
class TouchApiKeys:
    """Record when keys were last used (gathered in memory, written in batches)."""

    last_used: tuple[tuple[str, datetime], ...]
    version: int = MESSAGE_VERSION
    kind: Literal["touch_keys"] = "touch_keys"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordAudit:
    """An audit entry with no change beside it: a refused request (authentication
    failure, permission denial, rejected upload)."""

    fields: AuditFields
    version: int = MESSAGE_VERSION
    kind: Literal["record_audit"] = "record_audit"


@dataclass(frozen=True, slots=True, kw_only=True)
class RotateKek:
    """Re-wrap every stored data key under the KEK ``kek_id`` (sealing any value stored
    in plain text); writes wait while it runs, reads and runs do not. The Writer finds
    the key itself, by id, among the configured key files: key material never travels
    in a message."""

    kek_id: str
    actor: Actor
    request_id: str | None = None
    version: int = MESSAGE_VERSION
    kind: Literal["rotate_kek"] = "rotate_kek"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportRecords:
    """Records read from an export, kept as they were exported: module ids, revisions
    and times, key records (hashes), audit entries. A module or key the store holds
    already is left alone (``present``), one it holds otherwise is a ``conflict``; only
    an older revision of a module is replaced. ``audit`` is one contiguous run of
    entries: appended as they are when they continue the log's head under the Writer's
    key, else refused whole; ``rechain_audit`` appends their fields chained anew under
    the key instead. No entry per record: the import leaves one summary entry (a
    ``RecordAudit``) when it is done."""

    modules: tuple[ModuleRecord, ...] = ()
    revisions: tuple[ModuleRecord, ...] = ()
    """Retained older revisions of ``modules`` (their bytes), kept with the ones imported."""
    keys: tuple[ApiKey, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    rechain_audit: bool = False
    boundary: AuditFields | None = None
    """With ``rechain_audit``: an entry chained after the run, recording where its
    entries came from (so a second import of them finds them there)."""
    version: int = MESSAGE_VERSION
    kind: Literal["import_records"] = "import_records"


class Disposition(StrEnum):
    """What an import did with one record."""

    IMPORTED = "imported"
    PRESENT = "present"
    """The store holds the record as exported already: nothing to do."""
    CONFLICT = "conflict"
    """The store holds something else under its id: left alone, with the reason."""
    SKIPPED = "skipped"
    """Not offered to the store, by rule (key hashes of another server secret, audit
    entries that cannot continue this log): the reason says which."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordOutcome:
    """One record of an ``ImportRecords``: ``kind`` is module, key or audit."""

    kind: Literal["module", "key", "audit"]
    id: str
    disposition: Disposition
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportResult:
    """What the Writer did with an ``ImportRecords``, record by record (the audit run
    as one outcome, ``id`` naming its sequence numbers)."""

    outcomes: tuple[RecordOutcome, ...]
    audit_appended: int = 0


ModuleJob = CreateModule | UpdateModule | DeleteModule | SetAlias | RemoveAlias | StoreArtifact
"""A job about one module, checked against that module as it stands."""
KeyJob = CreateApiKey | RevokeApiKey | TouchApiKeys
WriteJob = ModuleJob | RecordUsage | KeyJob | RecordAudit | RotateKek | ImportRecords


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyChanged:
    """Published after a key was created or revoked; ``key`` is None after a revoke."""

    key_id: str
    key: ApiKey | None
    version: int = MESSAGE_VERSION


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleChanged:
    """Published by the Writer after a change is durable.

    ``digest`` is the new content digest (None after a delete); ``previous_digest`` the
    one it replaced (None after a create), so caches keyed by digest can drop it.
    """

    change: ChangeKind
    module_id: UUID
    namespace: str
    revision: int
    digest: str | None
    previous_digest: str | None
    version: int = MESSAGE_VERSION
