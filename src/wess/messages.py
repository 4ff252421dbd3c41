"""Typed, versioned messages between the workers.

Jobs flow into the Writer; ``ModuleChanged`` events flow out of it to whoever
subscribed (the Reader's cache, the Runner's compiled-module cache, and later other
nodes). Each carries ``version`` so a consumer can refuse a layout it does not know
once messages cross process boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal
from uuid import UUID

from wess.models import FunctionSignature, LegacyMetadata, SealedArtifact

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
class CreateModule:
    """Store a new module under ``module_id`` (revision 1)."""

    module_id: UUID
    namespace: str
    content: ModuleContent
    request_id: str | None = None
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
    version: int = MESSAGE_VERSION
    kind: Literal["update"] = "update"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteModule:
    """Remove a module; ``if_match`` is the digest it must have now."""

    module_id: UUID
    namespace: str
    if_match: str | None = None
    request_id: str | None = None
    version: int = MESSAGE_VERSION
    kind: Literal["delete"] = "delete"


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


ModuleJob = CreateModule | UpdateModule | DeleteModule | StoreArtifact
"""A job about one module, checked against that module as it stands."""
WriteJob = ModuleJob | RecordUsage


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


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
