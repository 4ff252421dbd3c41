"""The API key store: key records (the HMAC of each secret, never a token)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from wess.models import ApiKey


@dataclass(frozen=True, slots=True)
class PutApiKey:
    """Insert or replace an API key record."""

    key: ApiKey


@dataclass(frozen=True, slots=True)
class RemoveApiKey:
    """Delete an API key record (revoking the key)."""

    key_id: str


KeyChange = PutApiKey | RemoveApiKey


@runtime_checkable
class ApiKeyStore(Protocol):
    async def get(self, key_id: str) -> ApiKey | None:
        """The key record with id ``key_id``, or None."""
        ...

    async def list(self) -> builtins.list[ApiKey]:
        """Every key record, ordered by id."""
        ...
