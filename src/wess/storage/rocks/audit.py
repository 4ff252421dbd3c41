"""``RocksAudit``: the ``AuditStore`` of a ``RocksStore`` (entries in the ``audit`` family
under their u64 sequence number, so the log iterates in sequence order)."""

from __future__ import annotations

import builtins

from wess.models import AuditEntry
from wess.storage.records import decode_audit
from wess.storage.rocks.database import RocksDatabase
from wess.storage.rocks.layout import AUDIT, SEQ_BYTES, audit_key, scan


class RocksAudit:
    def __init__(self, database: RocksDatabase) -> None:
        self._d = database  # families looked up per call: a reference would keep the
        # database open after ``close`` (rocksdict closes it when the last one goes)

    async def head(self) -> AuditEntry | None:
        return await self._d.read(self.head_now)

    async def list(self, *, after: int, limit: int) -> builtins.list[AuditEntry]:
        return await self._d.read(self._list, after, limit)

    def head_now(self) -> AuditEntry | None:
        """``head``, blocking, on the calling thread (a transaction's view reads this)."""
        iterator = self._d.visible[AUDIT].iter()
        iterator.seek_for_prev(b"\xff" * SEQ_BYTES)
        found = iterator.valid()
        head = decode_audit(iterator.value()) if found else None
        iterator.status()
        return head

    def _list(self, after: int, limit: int) -> builtins.list[AuditEntry]:
        found: builtins.list[AuditEntry] = []
        if limit <= 0:
            return found
        start = audit_key(max(after, 0) + 1)
        for _, value in scan(self._d.visible[AUDIT], b"", start, skipped=self._d.skipped(AUDIT)):
            found.append(decode_audit(value))
            if len(found) >= limit:
                break
        return found
