"""The usage store: how often each module was invoked, for pre-warming."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from uuid import UUID

UsageRanking = list[tuple[UUID, int]]
"""(module id, invocation count) pairs, most invoked first."""


@dataclass(frozen=True, slots=True)
class AddUsage:
    """Add invocation counts to modules; counts of modules that do not exist are
    dropped, and negative counts are refused (counts only grow)."""

    counts: tuple[tuple[UUID, int], ...]


@runtime_checkable
class UsageStore(Protocol):
    async def most_used(self, limit: int) -> UsageRanking:
        """Up to ``limit`` (module id, invocation count) pairs, most invoked first."""
        ...
