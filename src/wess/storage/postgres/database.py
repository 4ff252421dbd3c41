"""The PostgreSQL connections a ``PostgresStore`` shares, and how their errors read.

Reads go through an async pool (``psycopg_pool``). Writes (``commit``, the Writer's
``transact``) go through one synchronous connection on one thread of their own, as the
embedded store's writes do: a ``Transaction`` is synchronous code that reads what a
batch needs and answers its changes, so it runs on that thread inside the database
transaction. A write connection that breaks is replaced on the next write. psycopg
waits for the network without holding the GIL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from wess.errors import ConfigError, StorageError, StorageUnavailable
from wess.security.crypto import Keyring
from wess.storage.damage import DamageLog

T = TypeVar("T")
DEFAULT_SCHEMA = "wess"
READ_CONNECTIONS = 8
CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a connection before a request is answered 503."""


def split_url(url: str) -> tuple[str, str]:
    """The libpq connection string of ``url`` and the schema it names (``?schema=``).
    Other query parameters are libpq's; ``application_name`` defaults to
    ``wess/<schema>``, so an operator sees whose connections they are."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for name, value in query if name == "schema"]
    rest = [(name, value) for name, value in query if name != "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not schema.isidentifier() or len(schema) > 63:
        raise ConfigError(f"schema={schema!r} in the database URL is not a plain identifier")
    if not any(name == "application_name" for name, _ in rest):
        # what pg_stat_activity shows of Wess's connections, unless the URL names it
        rest.append(("application_name", f"wess/{schema}"))
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment))
    return conninfo, schema


class PostgresDatabase:
    """The pool for reads, the connection for writes, the keyring, the damage log."""

    def __init__(
        self,
        conninfo: str,
        schema: str,
        *,
        keyring: Keyring | None,
        where: str,
    ) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.keyring = keyring
        self.where = where
        self.marked = False
        self.closed = False
        self.damage = DamageLog()
        self.pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=READ_CONNECTIONS,
            open=False,
            timeout=CONNECT_TIMEOUT,
            configure=self._configure,
            kwargs={"autocommit": True, "connect_timeout": int(CONNECT_TIMEOUT)},
            name="wess-reads",
        )
        self._writer: psycopg.Connection[tuple[Any, ...]] | None = None
        self._writes = ThreadPoolExecutor(1, thread_name_prefix="wess-postgres-write")

    async def _configure(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))

    def connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The write connection (on the write thread only), opened or reopened."""
        if self._writer is None or self._writer.closed or self._writer.broken:
            conn = psycopg.connect(self.conninfo, connect_timeout=int(CONNECT_TIMEOUT))
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            conn.commit()
            self._writer = conn
        return self._writer

    async def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows ``query`` answers, on a pooled connection."""
        self._check_open()
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(query, params)
                return await cursor.fetchall()
        except Exception as exc:
            raise self.translate(exc) from exc

    async def write(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` on the write thread (writes never interleave)."""
        self._check_open()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writes, call, *args)
        except RuntimeError as exc:
            if self.closed:
                raise StorageUnavailable(f"the PostgreSQL store {self.where} is closed") from exc
            raise
        except Exception as exc:
            if isinstance(exc, ValueError) or not failure(exc):
                raise
            raise self.translate(exc) from exc

    def translate(self, exc: Exception) -> StorageError:
        """A psycopg or pool failure as a Wess error: lost or refused connections are
        unavailability, the rest a storage error."""
        if isinstance(exc, StorageError):
            return exc
        if isinstance(exc, PoolTimeout | psycopg.OperationalError | psycopg.InterfaceError):
            return StorageUnavailable(f"the PostgreSQL store {self.where} is unavailable: {exc}")
        return StorageError(f"the PostgreSQL store {self.where} failed: {exc}")

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.pool.close()
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._writes.shutdown(wait=True)
        if self._writer is not None:
            self._writer.close()

    def check_open(self) -> None:
        """``StorageUnavailable`` once the store is closed."""
        self._check_open()

    def _check_open(self) -> None:
        if self.closed:
            raise StorageUnavailable(f"the PostgreSQL store {self.where} is closed")


def failure(exc: Exception) -> bool:
    """Whether psycopg or the pool raised ``exc`` (rather than Wess or a bug)."""
    return isinstance(exc, psycopg.Error | PoolTimeout)
