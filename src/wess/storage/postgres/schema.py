"""The PostgreSQL store's schema: versioned migrations, one SQL file each.

A store lives in one PostgreSQL schema (``?schema=`` in the URL, default ``wess``). Its
``system`` table records the schema version. ``prepare`` runs at start-up: it creates
an empty schema at the current version, accepts the current one, and refuses an older
one (``MigrationRequired``, naming ``wess migrate``) or a newer one. ``migrate`` applies
the pending files in order, each in its own transaction with its version, so a crash
between two leaves a store the next run finishes. All of it under an advisory lock: two
nodes starting at once do not both create the schema.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from wess.errors import MigrationRequired, StorageUnavailable

MIGRATIONS = (
    "0001_initial.sql",
    "0002_nodes.sql",
    "0003_revisions.sql",
    "0004_invocations.sql",
    "0005_kv.sql",
)
"""Every schema migration, in order; the version of a store is how many it has."""
VERSION = len(MIGRATIONS)
VERSION_KEY = "schema_version"
LOCK = 0x57455353  # "WESS": pg_advisory_xact_lock key of schema changes


def _sql(name: str) -> str:
    return (resources.files("wess.storage.postgres.migrations") / name).read_text()


def version_of(conn: psycopg.Connection[tuple[Any, ...]], schema: str) -> int | None:
    """The schema version of ``schema``; None when it holds no Wess store yet."""
    exists = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'system'",
        (schema,),
    ).fetchone()
    if exists is None:
        return None
    row = conn.execute(
        sql.SQL("SELECT value FROM {}.system WHERE key = %s").format(sql.Identifier(schema)),
        (VERSION_KEY,),
    ).fetchone()
    return 0 if row is None else int(bytes(row[0]).decode())


def prepare(conn: psycopg.Connection[tuple[Any, ...]], schema: str, *, where: str) -> None:
    """Create ``schema`` at the current version if it is new; else check its version."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        found = version_of(conn, schema)
        if found is None:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            _apply(conn, schema, range(VERSION))
            return
    check(found, where=where)


def inspect(conn: psycopg.Connection[tuple[Any, ...]], schema: str, *, where: str) -> None:
    """Check that ``schema`` holds a store this Wess reads, creating nothing (a
    read-only open)."""
    found = version_of(conn, schema)
    if found is None:
        raise StorageUnavailable(f"the PostgreSQL store {where} holds no Wess store", where=where)
    check(found, where=where)


def check(found: int, *, where: str) -> None:
    if found == VERSION:
        return
    if found < VERSION:
        raise MigrationRequired(
            f"the PostgreSQL store {where} is at schema {found}; this Wess reads schema "
            f"{VERSION}. Run `wess migrate` with the same database URL (`--dry-run` "
            "shows the steps).",
            where=where,
        )
    raise StorageUnavailable(
        f"the PostgreSQL store {where} is at schema {found}, newer than this Wess reads "
        f"({VERSION}): it was written by a newer Wess. Run that version.",
        where=where,
    )


def migrate(
    conn: psycopg.Connection[tuple[Any, ...]], schema: str, *, dry_run: bool = False
) -> tuple[int | None, list[str]]:
    """Apply every pending migration; the version found and the files pending (applied
    unless ``dry_run``)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        found = version_of(conn, schema)
    start = 0 if found is None else found
    if start > VERSION:
        check(start, where=schema)
    pending = list(MIGRATIONS[start:])
    if not dry_run:
        if found is None:
            with conn.transaction():
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
        for index in range(start, VERSION):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
                if (version_of(conn, schema) or 0) == index:  # not applied meanwhile
                    _apply(conn, schema, range(index, index + 1))
    return found, pending


def _apply(conn: psycopg.Connection[tuple[Any, ...]], schema: str, steps: range) -> None:
    conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
    for index in steps:
        conn.execute(_sql(MIGRATIONS[index]))
        conn.execute(
            "INSERT INTO system (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (VERSION_KEY, str(index + 1).encode()),
        )
