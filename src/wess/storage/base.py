"""The storage Protocol: what Wess needs from a place that keeps modules.

Nothing above this Protocol may assume a particular backend. Writes arrive as a
sequence of ``Change`` values applied in one atomic, durable commit: the Writer
batches concurrent jobs into one commit (group commit), and later issues add kinds
of change (AOT artifacts, audit entries, API keys) that must land in the same batch
as the module change they belong to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from uuid import UUID

from wess.models import ModuleInfo, ModuleRecord


@dataclass(frozen=True, slots=True)
class PutModule:
    """Insert or replace a module: its metadata and bytes, together."""

    record: ModuleRecord


@dataclass(frozen=True, slots=True)
class RemoveModule:
    """Remove a module and everything stored beside it."""

    module_id: UUID


Change = PutModule | RemoveModule


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

    async def commit(self, changes: Sequence[Change]) -> None:
        """Apply every change atomically; return once they are durable."""
        ...

    async def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the store can serve reads and writes."""
        ...

    async def aclose(self) -> None:
        """Release the store; later calls raise ``StorageUnavailable``."""
        ...
