"""``RocksAudit``: the ``AuditStore`` of a ``RocksStore`` (entries under ``l:<u64 seq>``,
so the log iterates in sequence order)."""

from __future__ import annotations

import builtins

from wess.models import AuditEntry
from wess.storage.records import decode_audit
from wess.storage.rocks.database import RocksDatabase
from wess.storage.rocks.layout import AUDIT, SEQ_BYTES, audit_key, scan


class RocksAudit:
    def __init__(self, database: RocksDatabase) -> None:
        self._d = database

    async def head(self) -> AuditEntry | None:
        return await self._d.read(self._head)

    async def list(self, *, after: int, limit: int) -> builtins.list[AuditEntry]:
        return await self._d.read(self._list, after, limit)

    def _head(self) -> AuditEntry | None:
        iterator = self._d.db.iter()
        iterator.seek_for_prev(AUDIT + b"\xff" * SEQ_BYTES)
        found = iterator.valid() and iterator.key().startswith(AUDIT)
        head = decode_audit(iterator.value()) if found else None
        iterator.status()
        return head

    def _list(self, after: int, limit: int) -> builtins.list[AuditEntry]:
        found: builtins.list[AuditEntry] = []
        if limit <= 0:
            return found
        for _, value in scan(self._d.db, AUDIT, audit_key(max(after, 0) + 1)):
            found.append(decode_audit(value))
            if len(found) >= limit:
                break
        return found
