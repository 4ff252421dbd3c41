"""How one commit becomes one PostgreSQL transaction: every change staged (encoded and
sealed, so a bad change fails before any statement runs), then applied in order.

Each write transaction first takes an advisory lock: the writers of every node sharing
the database take turns, as one Writer does within a node, so the audit chain read and
extended inside a transaction stays linear. Applied in order, later changes see earlier
ones (the transaction's own writes): a module's row, its artifacts and its count
change together; an artifact or a count for a module that is gone, or holds other
bytes, is dropped, never orphaned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg

from wess.models import ApiKey, AuditEntry, ModuleInfo, is_addressable_name
from wess.security.crypto import Keyring
from wess.storage.audit import AppendAudit, RewriteAudit
from wess.storage.base import Change
from wess.storage.events import PublishEvent
from wess.storage.keys import PutApiKey, RemoveApiKey
from wess.storage.modules import (
    NamespaceUsage,
    PutArtifact,
    PutModule,
    PutModuleInfo,
    PutRevision,
    RemoveModule,
    RemoveRevision,
)
from wess.storage.records import (
    decode_api_key,
    decode_audit,
    decode_info,
    encode_api_key,
    encode_audit,
    encode_info,
)
from wess.storage.sealing import MARKER, artifact_aad, seal, wasm_aad
from wess.storage.usage import AddUsage
from wess.wire import encode_event

WRITE_LOCK = 0x57455354  # pg_advisory_xact_lock key every write transaction takes
MAX_COUNT = (1 << 63) - 1
SEALED_KEY = "sealed"

Connection = psycopg.Connection[tuple[Any, ...]]
Statement = tuple[str, tuple[Any, ...], str | None]
"""A query, its parameters, and the ValueError to raise if it changes no row."""


def stage(change: Change, keyring: Keyring | None, *, channel: str) -> list[Statement]:
    """The statements of ``change``; raises ``ValueError`` before anything runs."""
    if isinstance(change, PublishEvent):  # delivered on commit, only if it commits
        return [("SELECT pg_notify(%s, %s)", (channel, encode_event(change.event).decode()), None)]
    if isinstance(change, PutModule):
        info = change.record.info
        aad = b"" if keyring is None else wasm_aad(info.id, info.digest)
        wasm = seal(keyring, change.record.wasm, aad)
        record = encode_info(info)
        return [
            (
                "DELETE FROM modules WHERE id = %s AND namespace <> %s",
                (info.id, info.namespace),
                None,
            ),
            (
                "DELETE FROM artifacts WHERE module_id = %s AND NOT (digest = ANY(%s))",
                (info.id, sorted({ref.digest for ref in info.retained})),
                None,
            ),
            (
                "INSERT INTO modules (namespace, id, digest, size, record, wasm) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (namespace, id) DO UPDATE SET "
                "digest = excluded.digest, size = excluded.size, record = excluded.record, "
                "wasm = excluded.wasm",
                (info.namespace, info.id, info.digest, info.size, record, wasm),
                None,
            ),
            ("DELETE FROM module_names WHERE module_id = %s", (info.id,), None),
            *_name_index(info),
        ]
    if isinstance(change, PutModuleInfo):
        info = change.info
        return [
            (
                "UPDATE modules SET record = %s WHERE id = %s AND digest = %s",
                (encode_info(info), info.id, info.digest),
                None,
            )
        ]
    if isinstance(change, PutRevision):
        info = change.record.info
        aad = b"" if keyring is None else wasm_aad(info.id, info.digest)
        wasm = seal(keyring, change.record.wasm, aad)
        return [
            (
                "INSERT INTO revisions (module_id, revision, digest, record, wasm) "
                "SELECT %s, %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM modules WHERE id = %s) "
                "ON CONFLICT (module_id, revision) DO UPDATE SET digest = excluded.digest, "
                "record = excluded.record, wasm = excluded.wasm",
                (info.id, info.revision, info.digest, encode_info(info), wasm, info.id),
                None,
            )
        ]
    if isinstance(change, RemoveRevision):
        return [
            (
                "DELETE FROM revisions WHERE module_id = %s AND revision = %s",
                (change.module_id, change.revision),
                None,
            )
        ]
    if isinstance(change, RemoveModule):
        key = (change.module_id,)
        return [
            ("DELETE FROM modules WHERE id = %s", key, None),
            ("DELETE FROM artifacts WHERE module_id = %s", key, None),
            ("DELETE FROM usage WHERE module_id = %s", key, None),
            ("DELETE FROM revisions WHERE module_id = %s", key, None),
            ("DELETE FROM module_names WHERE module_id = %s", key, None),
        ]
    if isinstance(change, PutArtifact):
        artifact = change.artifact
        aad = artifact_aad(change.module_id, artifact.digest, artifact.flavor)
        data = seal(keyring, artifact.data, aad)
        return [
            (
                "INSERT INTO artifacts (module_id, digest, flavor, data) "
                "SELECT %s, %s, %s, %s WHERE EXISTS "
                "(SELECT 1 FROM modules WHERE id = %s AND (digest = %s OR EXISTS "
                "(SELECT 1 FROM revisions WHERE module_id = %s AND digest = %s))) "
                "ON CONFLICT (module_id, digest, flavor) DO UPDATE SET data = excluded.data",
                (
                    change.module_id,
                    artifact.digest,
                    artifact.flavor,
                    data,
                    change.module_id,
                    artifact.digest,
                    change.module_id,
                    artifact.digest,
                ),
                None,
            )
        ]
    if isinstance(change, AddUsage):
        if any(count < 0 for _, count in change.counts):
            raise ValueError("usage counts only grow")
        return [
            (
                "INSERT INTO usage (module_id, count) SELECT %s, %s WHERE EXISTS "
                "(SELECT 1 FROM modules WHERE id = %s) ON CONFLICT (module_id) DO UPDATE "
                "SET count = LEAST(usage.count + excluded.count, %s)",
                (module_id, min(count, MAX_COUNT), module_id, MAX_COUNT),
                None,
            )
            for module_id, count in change.counts
        ]
    if isinstance(change, PutApiKey):
        return [
            (
                "INSERT INTO api_keys (id, record) VALUES (%s, %s) "
                "ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                (change.key.id, encode_api_key(change.key)),
                None,
            )
        ]
    if isinstance(change, RemoveApiKey):
        return [("DELETE FROM api_keys WHERE id = %s", (change.key_id,), None)]
    if isinstance(change, AppendAudit):
        seq = change.entry.seq
        if seq < 1:
            raise ValueError(f"audit sequence numbers start at 1, not {seq}")
        return [
            (
                "INSERT INTO audit (seq, entry) VALUES (%s, %s) ON CONFLICT (seq) DO NOTHING",
                (seq, encode_audit(change.entry)),
                f"audit entry {seq} exists already; entries never change",
            )
        ]
    if isinstance(change, RewriteAudit):
        seq = change.entry.seq
        return [
            (
                "UPDATE audit SET entry = %s WHERE seq = %s",
                (encode_audit(change.entry), seq),
                f"audit entry {seq} is not stored; only stored ones are rewritten",
            )
        ]
    raise TypeError(f"unknown change {change!r}")


def _name_index(info: ModuleInfo) -> list[Statement]:
    """The statement indexing ``info``'s name, unless it is not addressable; a name
    another module holds stays with it (the Writer refuses such a write before)."""
    if not is_addressable_name(info.name):
        return []
    return [
        (
            "INSERT INTO module_names (namespace, name, module_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (namespace, name) DO NOTHING",
            (info.namespace, info.name, info.id),
            None,
        )
    ]


def apply(conn: Connection, statements: Sequence[Statement], *, mark_sealed: bool) -> None:
    """Run ``statements`` in the open transaction; a statement that must change a row
    and changes none raises its ``ValueError`` (the transaction then rolls back)."""
    for query, params, unless in statements:
        cursor = conn.execute(query, params)
        if unless is not None and cursor.rowcount == 0:
            raise ValueError(unless)
    if mark_sealed:
        conn.execute(
            "INSERT INTO system (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
            (SEALED_KEY, MARKER),
        )


class PostgresView:
    """The ``StoreView`` of one write transaction: reads on its connection, so they see
    the database as the transaction does (under the write lock)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get_infos(self, module_ids: Sequence[UUID]) -> dict[UUID, ModuleInfo | None]:
        found: dict[UUID, ModuleInfo | None] = dict.fromkeys(module_ids)
        if module_ids:
            rows = self._conn.execute(
                "SELECT id, record FROM modules WHERE id = ANY(%s)", (list(module_ids),)
            ).fetchall()
            for module_id, record in rows:
                found[UUID(str(module_id))] = decode_info(bytes(record))
        return found

    def get_api_key(self, key_id: str) -> ApiKey | None:
        row = self._conn.execute("SELECT record FROM api_keys WHERE id = %s", (key_id,)).fetchone()
        return None if row is None else decode_api_key(bytes(row[0]))

    def find_names(self, names: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UUID | None]:
        found: dict[tuple[str, str], UUID | None] = dict.fromkeys(names)
        for namespace, name in names:
            row = self._conn.execute(
                "SELECT module_id FROM module_names WHERE namespace = %s AND name = %s",
                (namespace, name),
            ).fetchone()
            if row is not None:
                found[(namespace, name)] = UUID(str(row[0]))
        return found

    def namespace_usage(self, namespaces: Sequence[str]) -> NamespaceUsage:
        rows = self._conn.execute(
            "SELECT namespace, count(*), coalesce(sum(size), 0) FROM modules "
            "WHERE namespace = ANY(%s) GROUP BY namespace",
            (list(namespaces),),
        ).fetchall()
        return {str(namespace): (int(count), int(size)) for namespace, count, size in rows}

    def audit_head(self) -> AuditEntry | None:
        row = self._conn.execute("SELECT entry FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else decode_audit(bytes(row[0]))
