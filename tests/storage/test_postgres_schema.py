"""The PostgreSQL store's schema: created on first use, migrated by `wess migrate`,
refused when older or newer than this Wess reads."""

from __future__ import annotations

import secrets
import subprocess
import sys

import psycopg
import pytest
from psycopg import sql

from tests.support import POSTGRES, postgres_schema
from wess.errors import MigrationRequired, StorageUnavailable
from wess.storage import open_store
from wess.storage.postgres import schema


def set_version(name: str, version: int) -> None:
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {}.system SET value = %s WHERE key = 'schema_version'").format(
                sql.Identifier(name)
            ),
            (str(version).encode(),),
        )


async def test_an_empty_schema_is_created_then_checked() -> None:
    """First use creates it at the current version; an older one is refused naming
    `wess migrate`, a newer one as written by a newer Wess."""
    name = f"t_{secrets.token_hex(6)}"
    with postgres_schema(name) as url:
        async with open_store(url):
            pass
        with psycopg.connect(POSTGRES) as conn:
            assert schema.version_of(conn, name) == schema.VERSION
        set_version(name, 0)
        with pytest.raises(MigrationRequired, match="wess migrate"):
            async with open_store(url):
                pass
        set_version(name, schema.VERSION + 1)
        with pytest.raises(StorageUnavailable, match="newer Wess"):
            async with open_store(url):
                pass


def test_wess_migrate_creates_a_schema_and_then_has_nothing_to_do() -> None:
    """`wess migrate` on a PostgreSQL URL applies the pending SQL files, once."""
    name = f"t_{secrets.token_hex(6)}"
    with postgres_schema(name) as url:
        env = {"PATH": "/usr/bin:/bin", "WESS_DATABASE_URL": url}
        dry = subprocess.run(
            [sys.executable, "-m", "wess", "migrate", "--dry-run"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert dry.returncode == 0, dry.stderr
        assert "0001_initial.sql" in dry.stdout
        assert "dry run" in dry.stdout
        done = subprocess.run(
            [sys.executable, "-m", "wess", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        again = subprocess.run(
            [sys.executable, "-m", "wess", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "nothing to migrate" in again.stdout


async def test_a_schema_2_store_migrates_to_revisions_and_names() -> None:
    """Schema 2 -> 3: every module keeps its current content as its one retained
    revision (under its number), and names are indexed: a UUID-spelled name is not,
    and of two modules sharing a name the older keeps it."""
    import dataclasses
    from datetime import timedelta
    from uuid import uuid4

    from tests.storage.builders import T0, make_record, unique_wasm
    from wess.models import ModuleRecord
    from wess.storage.records import encode_info

    def named(name: str, seed: str, *, revision: int = 1, age: int = 0) -> ModuleRecord:
        record = make_record(wasm=unique_wasm(seed), revision=revision)
        info = dataclasses.replace(record.info, name=name, created_at=T0 + timedelta(age))
        return ModuleRecord(info=info, wasm=record.wasm)

    older = named("adder", "a", revision=4, age=0)
    newer = named("adder", "b", age=1)
    unnamed = named(str(uuid4()), "c")
    name = f"t_{secrets.token_hex(6)}"
    with postgres_schema(name) as url, psycopg.connect(POSTGRES) as conn:
        with conn.transaction():
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
            schema._apply(conn, name, range(2))
            for record in (newer, older, unnamed):
                info = record.info
                meta = encode_info(info)
                row = (info.namespace, info.id, info.digest, info.size, meta, record.wasm)
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.modules (namespace, id, digest, size, record, wasm) "
                        "VALUES (%s, %s, %s, %s, %s, %s)"
                    ).format(sql.Identifier(name)),
                    row,
                )
        with pytest.raises(MigrationRequired):
            async with open_store(url):
                pass
        assert schema.migrate(conn, name) == (2, list(schema.MIGRATIONS[2:]))
        assert schema.MIGRATIONS[2] == "0003_revisions.sql"
        async with open_store(url) as store:
            for record in (older, newer, unnamed):
                got = await store.modules.get_revision(record.id, record.info.revision)
                assert got == record
            assert await store.modules.find("default", "adder") == older.id
            assert await store.modules.find("default", unnamed.info.name) is None
