"""The module store: modules (metadata and bytes) with their revisions, names and AOT
artifacts.

A module's current metadata and bytes always change together; beside them live its
retained revisions (immutable: metadata and bytes as they were), the index of its name
in its namespace (names that parse as a UUID are not indexed), and its artifacts,
keyed by (digest, flavor). They go with it: a put drops the artifacts of bytes no
retained revision holds, a removal drops everything (and the module's usage count), in
the same commit.
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
    """Insert or replace a module: its metadata and bytes, together, and the index of
    its name. Artifacts of bytes no retained revision (``info.retained``) holds are
    removed with the change; its usage count stays."""

    record: ModuleRecord


@dataclass(frozen=True, slots=True)
class PutModuleInfo:
    """Replace a module's metadata alone (its aliases), keeping its bytes, name and
    retained revisions; dropped if the module is absent or holds other bytes."""

    info: ModuleInfo


@dataclass(frozen=True, slots=True)
class PutRevision:
    """Keep one revision of a module: its metadata and bytes as they were, under
    ``record.info.revision``. Revisions never change: put once, removed by pruning."""

    record: ModuleRecord


@dataclass(frozen=True, slots=True)
class RemoveRevision:
    """Forget one retained revision (pruned by the retention setting)."""

    module_id: UUID
    revision: int


@dataclass(frozen=True, slots=True)
class RemoveModule:
    """Remove a module and everything stored beside it (artifacts, usage count)."""

    module_id: UUID


@dataclass(frozen=True, slots=True)
class PutArtifact:
    """Store an AOT artifact beside its module, keyed by (digest, flavor).

    Applied only if the module, after the earlier changes of the same commit, exists
    and retains a revision with the artifact's digest; otherwise it is dropped, never
    left orphaned.
    """

    module_id: UUID
    artifact: SealedArtifact


ModuleChange = PutModule | PutModuleInfo | PutRevision | RemoveRevision | RemoveModule | PutArtifact


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

    async def get_revision(self, module_id: UUID, revision: int) -> ModuleRecord | None:
        """One retained revision of the module with its verified bytes, or None."""
        ...

    async def find(self, namespace: str, name: str) -> UUID | None:
        """The id of the module named ``name`` in ``namespace``, or None."""
        ...

    async def get_artifact(
        self, module_id: UUID, *, digest: str, flavor: str
    ) -> SealedArtifact | None:
        """The artifact stored for the module's bytes ``digest`` and ``flavor``, or None.

        Returned as stored: only the runtime that sealed it can tell whether it is sound.
        """
        ...
