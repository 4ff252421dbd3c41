"""``RocksInvocations``: the ``InvocationStore`` of a ``RocksStore`` (the ``invocations``
family). One process owns the directory, so every transition runs on the store's one
write thread (never two at once) and lands in one synced ``WriteBatch``:

    r:<uuid>                                   the encoded ``InvocationRecord``
    q:<due, u64 µs big-endian><uuid>           empty; what a claim scans, earliest first
    x:<expires_at, u64 µs big-endian><uuid>    empty; what pruning scans
    i:<len16><namespace><idempotency key>      the invocation's id
"""

from __future__ import annotations

import builtins
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from rocksdict import WriteBatch

from wess.storage.invocations import InvocationRecord, micros, settles
from wess.storage.rocks.database import RocksDatabase
from wess.storage.rocks.layout import INVOCATIONS, scan

RECORD = b"r:"
DUE = b"q:"
EXPIRY = b"x:"
IDEMPOTENCY = b"i:"
STAMP = 8
ID_BYTES = 36


def _record_key(invocation_id: UUID) -> bytes:
    return RECORD + str(invocation_id).encode()


def _stamped(prefix: bytes, moment: datetime, invocation_id: UUID) -> bytes:
    return prefix + max(0, micros(moment)).to_bytes(STAMP, "big") + str(invocation_id).encode()


def _idempotency_key(namespace: str, key: str) -> bytes:
    encoded = namespace.encode()
    return IDEMPOTENCY + len(encoded).to_bytes(2, "big") + encoded + key.encode()


class RocksInvocations:
    def __init__(self, database: RocksDatabase) -> None:
        self._d = database

    async def create(self, record: InvocationRecord) -> InvocationRecord:
        return await self._d.write(self._create, record)

    async def get(self, invocation_id: UUID) -> InvocationRecord | None:
        return await self._d.read(self._get, invocation_id)

    async def claim(
        self, *, node: str, now: datetime, lease_until: datetime, limit: int
    ) -> builtins.list[InvocationRecord]:
        return await self._d.write(self._claim, node, now, lease_until, limit)

    async def renew(
        self, invocation_ids: builtins.list[UUID], *, node: str, lease_until: datetime
    ) -> None:
        await self._d.write(self._renew, invocation_ids, node, lease_until)

    async def settle(self, record: InvocationRecord, *, node: str) -> bool:
        return await self._d.write(self._settle, record, node)

    async def prune(self, *, now: datetime, limit: int) -> int:
        return await self._d.write(self._prune, now, limit)

    # -- on the store's threads ---------------------------------------------------------------

    def _get(self, invocation_id: UUID) -> InvocationRecord | None:
        raw = self._d.family[INVOCATIONS].get(_record_key(invocation_id))
        return None if raw is None else InvocationRecord.decode(raw)

    def _create(self, record: InvocationRecord) -> InvocationRecord:
        family = self._d.family[INVOCATIONS]
        batch = WriteBatch(raw_mode=True)
        handle = self._d.handle[INVOCATIONS]
        if record.idempotency_key is not None:
            key = _idempotency_key(record.namespace, record.idempotency_key)
            known = family.get(key)
            if known is not None:
                found = self._get(UUID(bytes(known).decode()))
                if found is not None:
                    return found
            batch.put(key, str(record.id).encode(), handle)
        self._put(batch, None, record)
        self._d.db.write(batch, self._d.sync)
        return record

    def _put(
        self, batch: WriteBatch, previous: InvocationRecord | None, record: InvocationRecord
    ) -> None:
        handle = self._d.handle[INVOCATIONS]
        if previous is not None and previous.due is not None:
            batch.delete(_stamped(DUE, previous.due, previous.id), handle)
        if previous is not None and previous.expires_at is not None:
            batch.delete(_stamped(EXPIRY, previous.expires_at, previous.id), handle)
        batch.put(_record_key(record.id), record.encode(), handle)
        if record.due is not None:
            batch.put(_stamped(DUE, record.due, record.id), b"", handle)
        if record.expires_at is not None:
            batch.put(_stamped(EXPIRY, record.expires_at, record.id), b"", handle)

    def _due(self, prefix: bytes, now: datetime, limit: int) -> list[UUID]:
        bound = max(0, micros(now))
        found: list[UUID] = []
        for key, _ in scan(self._d.family[INVOCATIONS], prefix, prefix):
            if int.from_bytes(key[len(prefix) : len(prefix) + STAMP], "big") > bound:
                break
            found.append(UUID(key[len(prefix) + STAMP :].decode()))
            if len(found) >= limit:
                break
        return found

    def _claim(
        self, node: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[InvocationRecord]:
        batch = WriteBatch(raw_mode=True)
        claimed: list[InvocationRecord] = []
        for invocation_id in self._due(DUE, now, limit):
            current = self._get(invocation_id)
            if current is None or current.due is None or current.due > now:
                continue
            record = current.claimed(node=node, lease_until=lease_until, now=now)
            self._put(batch, current, record)
            claimed.append(record)
        if claimed:
            self._d.db.write(batch, self._d.sync)
        return claimed

    def _renew(self, invocation_ids: list[UUID], node: str, lease_until: datetime) -> None:
        batch = WriteBatch(raw_mode=True)
        renewed = False
        for invocation_id in invocation_ids:
            current = self._get(invocation_id)
            if current is not None and current.lease_owner == node and not current.finished:
                self._put(batch, current, replace(current, lease_until=lease_until))
                renewed = True
        if renewed:
            self._d.db.write(batch, self._d.sync)

    def _settle(self, record: InvocationRecord, node: str) -> bool:
        current = self._get(record.id)
        if current is None or not settles(current, record, node):
            return False
        batch = WriteBatch(raw_mode=True)
        self._put(batch, current, record)
        self._d.db.write(batch, self._d.sync)
        return True

    def _prune(self, now: datetime, limit: int) -> int:
        batch = WriteBatch(raw_mode=True)
        handle = self._d.handle[INVOCATIONS]
        pruned = 0
        for invocation_id in self._due(EXPIRY, now, limit):
            current = self._get(invocation_id)
            if current is None or current.expires_at is None:
                continue
            batch.delete(_stamped(EXPIRY, current.expires_at, current.id), handle)
            batch.delete(_record_key(current.id), handle)
            if current.idempotency_key is not None:
                batch.delete(_idempotency_key(current.namespace, current.idempotency_key), handle)
            pruned += 1
        if pruned:
            self._d.db.write(batch, self._d.sync)
        return pruned
