"""``PostgresInvocations``: the ``InvocationStore`` of a ``PostgresStore``, one queue that
every node sharing the store takes work from.

A claim locks the due rows it takes with ``FOR UPDATE SKIP LOCKED``, so nodes claiming
at once each take other rows, none waits for another's; a settle locks its row and
applies only while the node still holds the lease (``settles``). Each runs in one
transaction on a pooled connection; a committed transaction is durable.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import psycopg

from wess.storage.invocations import InvocationRecord, settles
from wess.storage.postgres.database import PostgresDatabase

T = TypeVar("T")
Work = Callable[[psycopg.AsyncConnection[tuple[Any, ...]]], Awaitable[T]]


def _row(record: InvocationRecord) -> tuple[Any, ...]:
    return (
        record.id,
        record.namespace,
        record.idempotency_key,
        record.due,
        record.expires_at,
        record.encode(),
    )


class PostgresInvocations:
    def __init__(self, database: PostgresDatabase) -> None:
        self._d = database

    async def create(self, record: InvocationRecord) -> InvocationRecord:
        rows = await self._d.rows(
            "INSERT INTO invocations (id, namespace, idempotency_key, due, expires_at, record) "
            "VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (namespace, idempotency_key) WHERE idempotency_key IS NOT NULL "
            "DO NOTHING RETURNING id",
            _row(record),
        )
        if rows:
            return record
        found = await self._d.rows(
            "SELECT record FROM invocations WHERE namespace = %s AND idempotency_key = %s",
            (record.namespace, record.idempotency_key),
        )
        if not found:  # pruned between the two statements: keep this one
            return await self.create(record)
        return InvocationRecord.decode(bytes(found[0][0]))

    async def get(self, invocation_id: UUID) -> InvocationRecord | None:
        rows = await self._d.rows("SELECT record FROM invocations WHERE id = %s", (invocation_id,))
        return InvocationRecord.decode(bytes(rows[0][0])) if rows else None

    async def claim(
        self, *, node: str, now: datetime, lease_until: datetime, limit: int
    ) -> builtins.list[InvocationRecord]:
        async def work(conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> list[InvocationRecord]:
            cursor = await conn.execute(
                "SELECT record FROM invocations WHERE due IS NOT NULL AND due <= %s "
                "ORDER BY due LIMIT %s FOR UPDATE SKIP LOCKED",
                (now, limit),
            )
            claimed = [
                InvocationRecord.decode(bytes(raw)).claimed(
                    node=node, lease_until=lease_until, now=now
                )
                for (raw,) in await cursor.fetchall()
            ]
            for record in claimed:
                await _update(conn, record)
            return claimed

        return await self._transaction(work)

    async def renew(
        self, invocation_ids: builtins.list[UUID], *, node: str, lease_until: datetime
    ) -> None:
        async def work(conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
            cursor = await conn.execute(
                "SELECT record FROM invocations WHERE id = ANY(%s) FOR UPDATE",
                (invocation_ids,),
            )
            for (raw,) in await cursor.fetchall():
                current = InvocationRecord.decode(bytes(raw))
                if current.lease_owner == node and not current.finished:
                    await _update(conn, replace(current, lease_until=lease_until))

        if invocation_ids:
            await self._transaction(work)

    async def settle(self, record: InvocationRecord, *, node: str) -> bool:
        async def work(conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> bool:
            cursor = await conn.execute(
                "SELECT record FROM invocations WHERE id = %s FOR UPDATE", (record.id,)
            )
            row = await cursor.fetchone()
            current = None if row is None else InvocationRecord.decode(bytes(row[0]))
            if not settles(current, record, node):
                return False
            await _update(conn, record)
            return True

        return await self._transaction(work)

    async def prune(self, *, now: datetime, limit: int) -> int:
        rows = await self._d.rows(
            "DELETE FROM invocations WHERE id IN (SELECT id FROM invocations "
            "WHERE expires_at IS NOT NULL AND expires_at <= %s LIMIT %s "
            "FOR UPDATE SKIP LOCKED) RETURNING id",
            (now, limit),
        )
        return len(rows)

    async def _transaction(self, work: Work[T]) -> T:
        self._d.check_open()
        try:
            async with self._d.pool.connection() as conn, conn.transaction():
                return await work(conn)
        except Exception as exc:
            raise self._d.translate(exc) from exc


async def _update(conn: psycopg.AsyncConnection[tuple[Any, ...]], record: InvocationRecord) -> None:
    await conn.execute(
        "UPDATE invocations SET due = %s, expires_at = %s, record = %s WHERE id = %s",
        (record.due, record.expires_at, record.encode(), record.id),
    )
