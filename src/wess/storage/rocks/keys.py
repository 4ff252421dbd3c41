"""``RocksApiKeys``: the ``ApiKeyStore`` of a ``RocksStore``."""

from __future__ import annotations

import builtins

from wess.models import ApiKey
from wess.storage.records import decode_api_key
from wess.storage.rocks.database import RocksDatabase
from wess.storage.rocks.layout import KEYS, api_key_key, scan


class RocksApiKeys:
    def __init__(self, database: RocksDatabase) -> None:
        self._d = database  # families looked up per call: a reference would keep the
        # database open after ``close`` (rocksdict closes it when the last one goes)

    async def get(self, key_id: str) -> ApiKey | None:
        return await self._d.read(self.get_now, key_id)

    async def list(self) -> builtins.list[ApiKey]:
        return await self._d.read(self._list)

    def get_now(self, key_id: str) -> ApiKey | None:
        """``get``, blocking, on the calling thread (a transaction's view reads this)."""
        stored = self._d.visible[KEYS].get(api_key_key(key_id))
        return None if stored is None else decode_api_key(stored)

    def _list(self) -> builtins.list[ApiKey]:
        skipped = self._d.skipped(KEYS)
        return [
            decode_api_key(value)
            for _, value in scan(self._d.visible[KEYS], b"", b"", skipped=skipped)
        ]
