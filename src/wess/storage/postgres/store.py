"""``PostgresStore``: everything Wess stores, in a PostgreSQL schema several nodes share.

Selected by a ``postgresql://`` URL (``?schema=`` names the schema, default ``wess``).
Reads use an async connection pool; every commit is one transaction on the write
connection (``database``), taken in turn with every other node's writers (``writing``).
A module write and its audit entry commit in one transaction; PostgreSQL's own commit
makes it durable before ``commit`` returns.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from psycopg.conninfo import make_conninfo

from wess.errors import ConfigError, StorageUnavailable
from wess.security.crypto import Keyring
from wess.storage.base import Change, Transaction
from wess.storage.modules import PutArtifact, PutModule
from wess.storage.postgres import schema
from wess.storage.postgres.admin import PostgresAdmin
from wess.storage.postgres.database import CONNECT_TIMEOUT, PostgresDatabase, split_url
from wess.storage.postgres.feed import PostgresFeed, channel_of
from wess.storage.postgres.invocations import PostgresInvocations
from wess.storage.postgres.kv import PostgresKv
from wess.storage.postgres.readers import (
    PostgresApiKeys,
    PostgresAudit,
    PostgresModules,
    PostgresNodes,
    PostgresUsage,
)
from wess.storage.postgres.writing import SEALED_KEY, WRITE_LOCK, PostgresView, apply, stage
from wess.storage.sealing import ENCRYPTED_STORE


class PostgresStore:
    """A ``Store`` in PostgreSQL. Build it with ``await PostgresStore.open(url)``."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._d = database
        self._modules = PostgresModules(database)
        self._keys = PostgresApiKeys(database)
        self._audit = PostgresAudit(database)
        self._usage = PostgresUsage(database)
        self._admin = PostgresAdmin(database)
        self._nodes = PostgresNodes(database)
        self._invocations = PostgresInvocations(database)
        self._kv = PostgresKv(database)
        self._channel = channel_of(database.schema)
        self._feed = PostgresFeed(database.conninfo, database.schema)

    @classmethod
    async def open(
        cls, url: str, *, keyring: Keyring | None = None, read_only: bool = False
    ) -> PostgresStore:
        """Connect, create the schema if the database holds none yet (or check its
        version), and read whether it holds sealed values. ``StorageUnavailable`` when
        the server cannot be reached; ``MigrationRequired`` for an older schema.

        ``read_only``: the schema must exist already, and every transaction of this
        store is read-only in PostgreSQL itself (a write is refused by the server)."""
        conninfo, name = split_url(url)
        if read_only:
            conninfo = make_conninfo(conninfo, options="-c default_transaction_read_only=on")
        where = f"{_redacted(url)} (schema {name})"
        database = PostgresDatabase(conninfo, name, keyring=keyring, where=where)
        try:
            # a refused connection fails fast here
            await database.write(_inspect if read_only else _prepare, database)
            await database.pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except BaseException as exc:
            await database.aclose()
            if isinstance(exc, Exception) and not isinstance(exc, StorageUnavailable | ConfigError):
                translated = database.translate(exc)
                if translated is not exc:
                    raise translated from exc
            raise
        if keyring is None and database.marked:
            await database.aclose()
            raise ConfigError(f"{where}: {ENCRYPTED_STORE}", where=where)
        return cls(database)

    @property
    def modules(self) -> PostgresModules:
        return self._modules

    @property
    def keys(self) -> PostgresApiKeys:
        return self._keys

    @property
    def audit(self) -> PostgresAudit:
        return self._audit

    @property
    def usage(self) -> PostgresUsage:
        return self._usage

    @property
    def nodes(self) -> PostgresNodes:
        return self._nodes

    @property
    def invocations(self) -> PostgresInvocations:
        return self._invocations

    @property
    def kv(self) -> PostgresKv:
        return self._kv

    @property
    def admin(self) -> PostgresAdmin:
        return self._admin

    async def commit(self, changes: Sequence[Change]) -> None:
        """Apply every change in one transaction; return once it committed."""
        channel = self._channel
        staged = [s for change in changes for s in stage(change, self._d.keyring, channel=channel)]
        await self._d.write(self._commit, staged, _writes_values(changes))

    async def transact(self, work: Transaction) -> None:
        """Run ``work`` inside the write transaction and commit what it answers."""
        await self._d.write(self._transact, work)

    def feed(self) -> PostgresFeed:
        """What every node sharing this database publishes (``async with`` to listen)."""
        return self._feed

    async def ping(self) -> None:
        await self._d.rows("SELECT 1")

    async def aclose(self) -> None:
        await self._d.aclose()

    def _commit(self, staged: builtins.list[Any], values: bool) -> None:
        conn = self._d.connection()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            apply(conn, staged, mark_sealed=self._marking(values))
        self._d.marked = self._d.marked or self._marking(values)

    def _transact(self, work: Transaction) -> None:
        conn = self._d.connection()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            changes = builtins.list(work(PostgresView(conn)))
            staged = [
                s
                for change in changes
                for s in stage(change, self._d.keyring, channel=self._channel)
            ]
            marking = self._marking(_writes_values(changes))
            apply(conn, staged, mark_sealed=marking)
        self._d.marked = self._d.marked or marking

    def _marking(self, values: bool) -> bool:
        return self._d.keyring is not None and values and not self._d.marked


def _prepare(database: PostgresDatabase) -> None:
    conn = database.connection()
    schema.prepare(conn, database.schema, where=database.where)
    row = conn.execute("SELECT 1 FROM system WHERE key = %s", (SEALED_KEY,)).fetchone()
    conn.commit()
    database.marked = row is not None


def _inspect(database: PostgresDatabase) -> None:
    conn = database.connection()
    schema.inspect(conn, database.schema, where=database.where)
    row = conn.execute("SELECT 1 FROM system WHERE key = %s", (SEALED_KEY,)).fetchone()
    conn.commit()
    database.marked = row is not None


def _writes_values(changes: Sequence[Change]) -> bool:
    """Whether ``changes`` store module bytes or artifacts (sealed, with a keyring)."""
    return any(isinstance(change, PutModule | PutArtifact) for change in changes)


def _redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
