"""``PostgresKv``: the ``KvStore`` of a ``PostgresStore``. A write locks its namespace's
usage row, checks the quota and changes the value and the usage in one transaction, so
nodes writing one namespace at once never pass its quota together."""

from __future__ import annotations

import builtins
from typing import Any

import psycopg

from wess.errors import WessError
from wess.storage.kv import entry_size, over_quota
from wess.storage.postgres.database import PostgresDatabase


class PostgresKv:
    def __init__(self, database: PostgresDatabase) -> None:
        self._d = database

    async def get(self, namespace: str, key: str) -> bytes | None:
        rows = await self._d.rows(
            "SELECT value FROM kv WHERE namespace = %s AND key = %s", (namespace, key)
        )
        return bytes(rows[0][0]) if rows else None

    async def put(self, namespace: str, key: str, value: bytes, *, quota: int) -> None:
        async def work(conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
            used = await _locked_usage(conn, namespace)
            cursor = await conn.execute(
                "SELECT length(value) FROM kv WHERE namespace = %s AND key = %s",
                (namespace, key),
            )
            row = await cursor.fetchone()
            used += entry_size(key, value)
            if row is not None:
                used -= len(key.encode()) + int(row[0])
            if used > quota:
                raise over_quota(namespace, used, quota)
            await conn.execute(
                "INSERT INTO kv (namespace, key, value) VALUES (%s, %s, %s) "
                "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                (namespace, key, value),
            )
            await _set_usage(conn, namespace, used)

        await self._transaction(work)

    async def delete(self, namespace: str, key: str) -> bool:
        async def work(conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> bool:
            used = await _locked_usage(conn, namespace)
            cursor = await conn.execute(
                "DELETE FROM kv WHERE namespace = %s AND key = %s RETURNING length(value)",
                (namespace, key),
            )
            row = await cursor.fetchone()
            if row is None:
                return False
            await _set_usage(conn, namespace, used - len(key.encode()) - int(row[0]))
            return True

        deleted: bool = await self._transaction(work)
        return deleted

    async def list(
        self, namespace: str, *, prefix: str = "", after: str | None = None, limit: int
    ) -> builtins.list[str]:
        rows = await self._d.rows(
            "SELECT key FROM kv WHERE namespace = %s AND starts_with(key, %s) "
            "AND (%s::text IS NULL OR key > %s) ORDER BY key LIMIT %s",
            (namespace, prefix, after, after, limit),
        )
        return [str(key) for (key,) in rows]

    async def usage(self, namespace: str) -> int:
        rows = await self._d.rows("SELECT bytes FROM kv_usage WHERE namespace = %s", (namespace,))
        return int(rows[0][0]) if rows else 0

    async def _transaction(self, work: Any) -> Any:
        self._d.check_open()
        try:
            async with self._d.pool.connection() as conn, conn.transaction():
                return await work(conn)
        except WessError:  # the quota's refusal, as it is
            raise
        except Exception as exc:
            raise self._d.translate(exc) from exc


async def _locked_usage(conn: psycopg.AsyncConnection[tuple[Any, ...]], namespace: str) -> int:
    await conn.execute(
        "INSERT INTO kv_usage (namespace, bytes) VALUES (%s, 0) ON CONFLICT DO NOTHING",
        (namespace,),
    )
    cursor = await conn.execute(
        "SELECT bytes FROM kv_usage WHERE namespace = %s FOR UPDATE", (namespace,)
    )
    row = await cursor.fetchone()
    return 0 if row is None else int(row[0])


async def _set_usage(
    conn: psycopg.AsyncConnection[tuple[Any, ...]], namespace: str, used: int
) -> None:
    await conn.execute("UPDATE kv_usage SET bytes = %s WHERE namespace = %s", (used, namespace))
