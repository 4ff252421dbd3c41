"""``PostgresAdmin``: the ``StoreAdmin`` of a ``PostgresStore`` (re-wrapping under a new
KEK, the damage report)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from wess.errors import ConfigError
from wess.security.crypto import Keyring
from wess.storage.damage import DamageReport
from wess.storage.postgres.database import PostgresDatabase
from wess.storage.postgres.writing import SEALED_KEY, WRITE_LOCK, Connection
from wess.storage.sealing import MARKER, artifact_aad, check_opens, reseal, wasm_aad

CHUNK = 256
"""Values rewritten per transaction."""


class PostgresAdmin:
    def __init__(self, database: PostgresDatabase) -> None:
        self._d = database

    def damage(self) -> DamageReport:
        """PostgreSQL checks its own pages and reports damage as errors; what reads met
        is counted here all the same."""
        return self._d.damage.report()

    def memory(self) -> dict[str, int]:
        """Nothing here: PostgreSQL's buffers live in its own processes."""
        return {}

    async def checkpoint(self, path: str) -> None:
        """Refused: PostgreSQL is backed up by its own tools."""
        raise ConfigError(
            "a PostgreSQL store is backed up with PostgreSQL's own tools (pg_dump, or base "
            "backups with WAL archiving for point-in-time recovery), or exported with "
            "`wess export`; `wess backup` copies the embedded RocksDB store"
        )

    async def rewrap(self, keyring: Keyring) -> int:
        """Seal every module and artifact value under ``keyring.current`` (refused
        before anything changes if ``keyring`` cannot open one), then use it."""
        return await self._d.write(self._rewrap, keyring)

    def _rewrap(self, keyring: Keyring) -> int:
        conn = self._d.connection()
        known: set[str] = set()
        for _, _, stored, _, module_id, what in _values(conn):
            check_opens(keyring, stored, known, module_id=module_id, what=what)
        conn.commit()
        self._d.keyring = keyring
        count = 0
        pending: list[tuple[str, tuple[Any, ...]]] = []
        for query, key, stored, aad, module_id, what in _values(conn):
            resealed = reseal(keyring, stored, aad, module_id=module_id, what=what)
            if resealed is not None:
                pending.append((query, (resealed, *key)))
        conn.commit()
        for start in range(0, len(pending), CHUNK):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                for query, params in pending[start : start + CHUNK]:
                    conn.execute(query, params)
                conn.execute(
                    "INSERT INTO system (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (SEALED_KEY, MARKER),
                )
            count += len(pending[start : start + CHUNK])
        self._d.marked = self._d.marked or count > 0
        return count


def _values(
    conn: Connection,
) -> Iterator[tuple[str, tuple[Any, ...], bytes, bytes, str, str]]:
    """(update query, its key, stored value, associated data, module id, what it is) of
    every module and artifact value."""
    for module_id, namespace, digest, wasm in conn.execute(
        "SELECT id, namespace, digest, wasm FROM modules ORDER BY id"
    ).fetchall():
        uid = UUID(str(module_id))
        yield (
            "UPDATE modules SET wasm = %s WHERE namespace = %s AND id = %s",
            (namespace, uid),
            bytes(wasm),
            wasm_aad(uid, digest),
            str(uid),
            "the stored bytes",
        )
    for module_id, revision, digest, wasm in conn.execute(
        "SELECT module_id, revision, digest, wasm FROM revisions ORDER BY module_id, revision"
    ).fetchall():
        uid = UUID(str(module_id))
        yield (
            "UPDATE revisions SET wasm = %s WHERE module_id = %s AND revision = %s",
            (uid, revision),
            bytes(wasm),
            wasm_aad(uid, digest),
            str(uid),
            f"the bytes of revision {revision}",
        )
    for module_id, digest, flavor, data in conn.execute(
        "SELECT module_id, digest, flavor, data FROM artifacts ORDER BY module_id"
    ).fetchall():
        uid = UUID(str(module_id))
        yield (
            "UPDATE artifacts SET data = %s WHERE module_id = %s AND digest = %s AND flavor = %s",
            (uid, digest, flavor),
            bytes(data),
            artifact_aad(uid, digest, flavor),
            str(uid),
            f"the {flavor} artifact",
        )
