"""The audit log store: entries kept by sequence number, appended, never changed."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from wess.models import AuditEntry


@dataclass(frozen=True, slots=True)
class AppendAudit:
    """Append one audit entry; an entry whose ``seq`` is stored already is refused."""

    entry: AuditEntry


@dataclass(frozen=True, slots=True)
class RewriteAudit:
    """Replace a stored entry with one of the same ``seq``: for upgrading the chain's
    format (re-chaining it under a key) only; refused for an entry that is not stored.
    Every other write appends."""

    entry: AuditEntry


AuditChange = AppendAudit | RewriteAudit


@runtime_checkable
class AuditStore(Protocol):
    async def head(self) -> AuditEntry | None:
        """The last entry (highest ``seq``), or None before the first."""
        ...

    async def list(self, *, after: int, limit: int) -> builtins.list[AuditEntry]:
        """Up to ``limit`` entries with ``seq > after``, in ``seq`` order."""
        ...
