"""The module store: modules (metadata and bytes) with their AOT artifacts.

A module's metadata and bytes always change together; its artifacts live beside it,
keyed by (digest, flavor), and go with it: new bytes drop the artifacts of the old
ones, a removal drops them all (and the module's usage count), in the same commit.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from uuid import UUID

from wess.models import ModuleInfo, ModuleRecord, SealedArtifact

NamespaceUsage = dict[str, tuple[int, int]]
"""Namespace -> (modules stored, bytes of wasm stored)."""


@dataclass(frozen=True, slots=True)
class PutModule:
    """Insert or replace a module: its metadata and bytes, together. Artifacts of other
    bytes (another digest) are removed with the change; its usage count stays."""

    record: ModuleRecord


@dataclass(frozen=True, slots=True)
class RemoveModule:
    """Remove a module and everything stored beside it (artifacts, usage count)."""

    module_id: UUID


@dataclass(frozen=True, slots=True)
class PutArtifact:
    """Store an AOT artifact beside its module, keyed by (digest, flavor).

    Applied only if the module, after the earlier changes of the same commit, exists
    with the artifact's digest; otherwise it is dropped, never left orphaned.
    """

    module_id: UUID
    artifact: SealedArtifact


ModuleChange = PutModule | RemoveModule | PutArtifact


@runtime_checkable
class ModuleStore(Protocol):
    """Reads of modules and artifacts. Reads of bytes verify them against the stored
    digest (``IntegrityError`` on a mismatch or on corruption the backend reports)."""

    async def get(self, module_id: UUID) -> ModuleRecord | None:
        """The module with its verified bytes, or None."""
        ...

    async def get_info(self, module_id: UUID) -> ModuleInfo | None:
        """The module's metadata without reading its bytes, or None."""
        ...

    async def list(
        self, *, namespace: str | None, after: UUID | None, limit: int
    ) -> builtins.list[ModuleInfo]:
        """Up to ``limit`` modules ordered by id, strictly after ``after``.

        ``namespace=None`` lists every namespace.
        """
        ...

    async def count(self, *, namespace: str | None = None) -> int:
        """How many modules are stored (in ``namespace``, or in all)."""
        ...

    async def namespace_usage(self) -> NamespaceUsage:
        """Modules and wasm bytes stored per namespace (read once, at start-up)."""
        ...

    async def get_artifact(
        self, module_id: UUID, *, digest: str, flavor: str
    ) -> SealedArtifact | None:
        """The artifact stored for the module's bytes ``digest`` and ``flavor``, or None.

        Returned as stored: only the runtime that sealed it can tell whether it is sound.
        """
        ...
