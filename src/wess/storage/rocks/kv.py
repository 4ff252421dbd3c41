"""``RocksKv``: the ``KvStore`` of a ``RocksStore`` (the ``kv`` family); writes on the
store's one write thread, each in one synced ``WriteBatch`` with the usage it changes:

    v:<len16><namespace><key>    the value
    u:<len16><namespace>         the namespace's bytes (u64, big-endian)
"""

from __future__ import annotations

import builtins

from rocksdict import WriteBatch

from wess.storage.kv import entry_size, over_quota
from wess.storage.rocks.database import RocksDatabase
from wess.storage.rocks.layout import KV, scan

VALUE = b"v:"
USED = b"u:"
COUNT = 8


def _space(namespace: str) -> bytes:
    encoded = namespace.encode()
    return len(encoded).to_bytes(2, "big") + encoded


class RocksKv:
    def __init__(self, database: RocksDatabase) -> None:
        self._d = database

    async def get(self, namespace: str, key: str) -> bytes | None:
        return await self._d.read(self._get, namespace, key)

    async def put(self, namespace: str, key: str, value: bytes, *, quota: int) -> None:
        await self._d.write(self._put, namespace, key, value, quota)

    async def delete(self, namespace: str, key: str) -> bool:
        return await self._d.write(self._delete, namespace, key)

    async def list(
        self, namespace: str, *, prefix: str = "", after: str | None = None, limit: int
    ) -> builtins.list[str]:
        return await self._d.read(self._list, namespace, prefix, after, limit)

    async def usage(self, namespace: str) -> int:
        return await self._d.read(self._usage, namespace)

    def _get(self, namespace: str, key: str) -> bytes | None:
        raw = self._d.family[KV].get(VALUE + _space(namespace) + key.encode())
        return None if raw is None else bytes(raw)

    def _usage(self, namespace: str) -> int:
        raw = self._d.family[KV].get(USED + _space(namespace))
        return 0 if raw is None else int.from_bytes(raw, "big")

    def _write(self, namespace: str, used: int, key: str, value: bytes | None) -> None:
        handle = self._d.handle[KV]
        batch = WriteBatch(raw_mode=True)
        entry = VALUE + _space(namespace) + key.encode()
        if value is None:
            batch.delete(entry, handle)
        else:
            batch.put(entry, value, handle)
        batch.put(USED + _space(namespace), used.to_bytes(COUNT, "big"), handle)
        self._d.db.write(batch, self._d.sync)

    def _put(self, namespace: str, key: str, value: bytes, quota: int) -> None:
        previous = self._get(namespace, key)
        used = self._usage(namespace) + entry_size(key, value)
        if previous is not None:
            used -= entry_size(key, previous)
        if used > quota:
            raise over_quota(namespace, used, quota)
        self._write(namespace, used, key, value)

    def _delete(self, namespace: str, key: str) -> bool:
        previous = self._get(namespace, key)
        if previous is None:
            return False
        self._write(namespace, self._usage(namespace) - entry_size(key, previous), key, None)
        return True

    def _list(
        self, namespace: str, prefix: str, after: str | None, limit: int
    ) -> builtins.list[str]:
        base = VALUE + _space(namespace)
        start = base + (after.encode() + b"\0" if after is not None else prefix.encode())
        start = max(start, base + prefix.encode())
        keys: builtins.list[str] = []
        for key, _ in scan(self._d.family[KV], base + prefix.encode(), start):
            keys.append(key[len(base) :].decode())
            if len(keys) >= limit:
                break
        return keys
