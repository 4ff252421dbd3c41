"""The storage Protocol: what Wess needs from a place that keeps modules.

Nothing above this Protocol may assume a particular backend. Writes arrive as a
sequence of ``Change`` values applied in one atomic, durable commit: the Writer
batches concurrent jobs into one commit (group commit), and later issues add kinds
of change (AOT artifacts, audit entries, API keys) that must land in the same batch
as the module change they belong to. ``transact`` lets the Writer read what a batch
needs and commit it in one step.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from uuid import UUID

from wess.models import ModuleInfo, ModuleRecord, SealedArtifact
from wess.security.audit import AuditEntry
from wess.security.crypto import Keyring
from wess.security.tokens import ApiKey


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


@dataclass(frozen=True, slots=True)
class AddUsage:
    """Add invocation counts to modules; counts of modules that do not exist are dropped."""

    counts: tuple[tuple[UUID, int], ...]


@dataclass(frozen=True, slots=True)
class PutApiKey:
    """Insert or replace an API key record (its hash, never a token)."""

    key: ApiKey


@dataclass(frozen=True, slots=True)
class RemoveApiKey:
    key_id: str


@dataclass(frozen=True, slots=True)
class AppendAudit:
    """Append one audit entry; entries are kept by ``seq`` and never changed."""

    entry: AuditEntry


Change = PutModule | RemoveModule | PutArtifact | AddUsage | PutApiKey | RemoveApiKey | AppendAudit

NamespaceUsage = dict[str, tuple[int, int]]
"""Namespace -> (modules stored, bytes of wasm stored)."""

UsageRanking = list[tuple[UUID, int]]
"""(module id, invocation count) pairs, most invoked first."""


class StoreView(Protocol):
    """The store as a ``transact`` call finds it: blocking reads, made on the thread the
    transaction runs on, and translated to Wess errors like the async ones."""

    def get_infos(self, module_ids: Sequence[UUID]) -> dict[UUID, ModuleInfo | None]:
        """The metadata of each of ``module_ids`` (None: absent), read at one point."""
        ...

    def get_api_key(self, key_id: str) -> ApiKey | None: ...


Transaction = Callable[[StoreView], Sequence[Change]]
"""Reads what it needs from the view and answers the changes to commit. It runs on the
storage's own thread (RocksDB) while the event loop goes on: it must not block, and may
touch only what nothing else changes meanwhile."""


@runtime_checkable
class ModuleRepository(Protocol):
    """An async store of modules. Implementations: memory, rocksdb (later postgresql).

    Reads verify the stored digest against the bytes and raise ``IntegrityError`` on a
    mismatch or on corruption reported by the backend; backend outages raise
    ``StorageUnavailable``. ``commit`` returns only once every change is durable.
    """

    async def get(self, module_id: UUID) -> ModuleRecord | None:
        """The module with its verified bytes, or None."""
        ...

    async def get_info(self, module_id: UUID) -> ModuleInfo | None:
        """The module's metadata without reading its bytes, or None."""
        ...

    async def list(
        self, *, namespace: str | None, after: UUID | None, limit: int
    ) -> list[ModuleInfo]:
        """Up to ``limit`` modules ordered by id, strictly after ``after``.

        ``namespace=None`` lists every namespace.
        """
        ...

    async def count(self, *, namespace: str | None = None) -> int:
        """How many modules are stored (in ``namespace``, or in all)."""
        ...

    async def get_artifact(
        self, module_id: UUID, *, digest: str, flavor: str
    ) -> SealedArtifact | None:
        """The artifact stored for the module's bytes ``digest`` and ``flavor``, or None.

        Returned as stored: only the runtime that sealed it can tell whether it is sound.
        """
        ...

    async def most_used(self, limit: int) -> UsageRanking:
        """Up to ``limit`` (module id, invocation count) pairs, most invoked first."""
        ...

    async def get_api_key(self, key_id: str) -> ApiKey | None: ...

    async def list_api_keys(self) -> builtins.list[ApiKey]:
        """Every key record, ordered by id."""
        ...

    async def audit_head(self) -> AuditEntry | None:
        """The last audit entry (highest ``seq``), or None before the first."""
        ...

    async def list_audit(self, *, after: int, limit: int) -> builtins.list[AuditEntry]:
        """Up to ``limit`` entries with ``seq > after``, in ``seq`` order."""
        ...

    async def namespace_usage(self) -> NamespaceUsage:
        """Modules and wasm bytes stored per namespace (read once, at start-up)."""
        ...

    async def rewrap(self, keyring: Keyring) -> int:
        """Seal every module and artifact value under ``keyring.current``: re-wrap the
        data keys of sealed values, seal those stored in plain text. Returns how many
        values were rewritten. Durable in synced batches; safe to run again after a crash.
        """
        ...

    async def commit(self, changes: Sequence[Change]) -> None:
        """Apply every change atomically; return once they are durable."""
        ...

    async def transact(self, work: Transaction) -> None:
        """Call ``work`` with a view of the store, then commit the changes it answers as
        ``commit`` does, with no other commit in between: the Writer's reads for a whole
        batch and its commit in one step (for RocksDB, one thread hop instead of two).
        Whatever ``work`` raises propagates, and nothing is committed."""
        ...

    async def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the store can serve reads and writes."""
        ...

    async def aclose(self) -> None:
        """Release the store; later calls raise ``StorageUnavailable``."""
        ...
