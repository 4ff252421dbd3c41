"""``RocksUsage``: the ``UsageStore`` of a ``RocksStore`` (the ``usage`` family: module id
-> u64 count)."""

from __future__ import annotations

from uuid import UUID

from wess.storage.rocks.database import RocksDatabase
from wess.storage.rocks.layout import USAGE, scan
from wess.storage.usage import UsageRanking


class RocksUsage:
    def __init__(self, database: RocksDatabase) -> None:
        self._d = database  # families looked up per call: a reference would keep the
        # database open after ``close`` (rocksdict closes it when the last one goes)

    async def most_used(self, limit: int) -> UsageRanking:
        return await self._d.read(self._most_used, limit)

    def _most_used(self, limit: int) -> UsageRanking:
        counts = [
            (UUID(key.decode()), int.from_bytes(value, "big"))
            for key, value in scan(self._d.visible[USAGE], b"", b"", skipped=self._d.skipped(USAGE))
        ]
        counts.sort(key=lambda pair: (-pair[1], str(pair[0])))
        return counts[:limit]
