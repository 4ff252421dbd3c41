"""Administering a store as a whole: work over every stored value, not one concept."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from wess.security.crypto import Keyring
from wess.storage.damage import DamageReport


@runtime_checkable
class StoreAdmin(Protocol):
    def damage(self) -> DamageReport:
        """What was found damaged while serving (records unreadable, key ranges a scan
        stepped over); nothing for a store that cannot be damaged so."""
        ...

    def memory(self) -> Mapping[str, int]:
        """Bytes the storage engine holds in this process's memory, by kind (RocksDB:
        ``memtables``, ``block_cache``, ``table_readers``, each bounded by the store's
        options); empty for a store that keeps nothing of its own here."""
        ...

    async def rewrap(self, keyring: Keyring) -> int:
        """Seal every module and artifact value under ``keyring.current``: re-wrap the
        data keys of sealed values, seal those stored in plain text, and use
        ``keyring`` from now on. Returns how many values were rewritten. Refuses, before
        anything changes, if ``keyring`` cannot open one of them. Durable in synced
        batches; safe to run again after a crash.
        """
        ...

    async def checkpoint(self, path: str) -> None:
        """Write a consistent copy of the whole store, as of one moment, to the new
        directory ``path``, while reads and writes go on: every commit acknowledged
        before the call is in it. ``ConfigError`` for a store that keeps nothing on
        disk."""
        ...
