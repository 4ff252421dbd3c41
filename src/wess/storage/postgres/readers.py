"""The concept stores of a ``PostgresStore``: modules (with artifacts), API keys, the
audit log and usage counts, each a few queries over the shared read pool."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any
from uuid import UUID

from wess.models import (
    ApiKey,
    AuditEntry,
    ModuleInfo,
    ModuleRecord,
    NodeInfo,
    SealedArtifact,
)
from wess.storage.damage import DamageReport
from wess.storage.modules import NamespaceUsage
from wess.storage.postgres.database import PostgresDatabase
from wess.storage.records import decode_api_key, decode_audit, decode_info, verified_wasm
from wess.storage.sealing import artifact_aad, unseal, wasm_aad
from wess.storage.usage import UsageRanking


class PostgresModules:
    def __init__(self, database: PostgresDatabase) -> None:
        self._d = database

    async def get(self, module_id: UUID) -> ModuleRecord | None:
        rows = await self._d.rows("SELECT record, wasm FROM modules WHERE id = %s", (module_id,))
        return self._record(module_id, rows)

    async def get_revision(self, module_id: UUID, revision: int) -> ModuleRecord | None:
        rows = await self._d.rows(
            "SELECT record, wasm FROM revisions WHERE module_id = %s AND revision = %s",
            (module_id, revision),
        )
        return self._record(module_id, rows)

    async def find(self, namespace: str, name: str) -> UUID | None:
        rows = await self._d.rows(
            "SELECT module_id FROM module_names WHERE namespace = %s AND name = %s",
            (namespace, name),
        )
        return UUID(str(rows[0][0])) if rows else None

    def _record(self, module_id: UUID, rows: builtins.list[tuple[Any, ...]]) -> ModuleRecord | None:
        if not rows:
            return None
        record, wasm = rows[0]
        info = decode_info(bytes(record))
        aad = wasm_aad(info.id, info.digest)
        plain = unseal(
            self._d.keyring, bytes(wasm), aad, module_id=module_id, what="the stored bytes"
        )
        return ModuleRecord(info=info, wasm=verified_wasm(info, plain))

    async def get_info(self, module_id: UUID) -> ModuleInfo | None:
        rows = await self._d.rows("SELECT record FROM modules WHERE id = %s", (module_id,))
        return decode_info(bytes(rows[0][0])) if rows else None

    async def list(
        self, *, namespace: str | None, after: UUID | None, limit: int
    ) -> builtins.list[ModuleInfo]:
        where = [] if namespace is None else ["namespace = %s"]
        params: builtins.list[object] = [] if namespace is None else [namespace]
        if after is not None:
            where.append("id > %s")
            params.append(after)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = await self._d.rows(
            f"SELECT record FROM modules {clause}ORDER BY id LIMIT %s",  # noqa: S608 - fixed parts
            (*params, limit),
        )
        return [decode_info(bytes(row[0])) for row in rows]

    async def count(self, *, namespace: str | None = None) -> int:
        if namespace is None:
            rows = await self._d.rows("SELECT count(*) FROM modules")
        else:
            rows = await self._d.rows(
                "SELECT count(*) FROM modules WHERE namespace = %s", (namespace,)
            )
        return int(rows[0][0])

    async def namespace_usage(self) -> NamespaceUsage:
        rows = await self._d.rows(
            "SELECT namespace, count(*), coalesce(sum(size), 0) FROM modules GROUP BY namespace"
        )
        return {str(namespace): (int(count), int(size)) for namespace, count, size in rows}

    async def get_artifact(
        self, module_id: UUID, *, digest: str, flavor: str
    ) -> SealedArtifact | None:
        rows = await self._d.rows(
            "SELECT data FROM artifacts WHERE module_id = %s AND digest = %s AND flavor = %s",
            (module_id, digest, flavor),
        )
        if not rows:
            return None
        aad = artifact_aad(module_id, digest, flavor)
        what = f"the {flavor} artifact"
        data = unseal(self._d.keyring, bytes(rows[0][0]), aad, module_id=module_id, what=what)
        return SealedArtifact(digest=digest, flavor=flavor, data=data)


class PostgresApiKeys:
    def __init__(self, database: PostgresDatabase) -> None:
        self._d = database

    async def get(self, key_id: str) -> ApiKey | None:
        rows = await self._d.rows("SELECT record FROM api_keys WHERE id = %s", (key_id,))
        return decode_api_key(bytes(rows[0][0])) if rows else None

    async def list(self) -> builtins.list[ApiKey]:
        rows = await self._d.rows("SELECT record FROM api_keys ORDER BY id")
        return [decode_api_key(bytes(row[0])) for row in rows]


class PostgresAudit:
    def __init__(self, database: PostgresDatabase) -> None:
        self._d = database

    async def head(self) -> AuditEntry | None:
        rows = await self._d.rows("SELECT entry FROM audit ORDER BY seq DESC LIMIT 1")
        return decode_audit(bytes(rows[0][0])) if rows else None

    async def list(self, *, after: int, limit: int) -> builtins.list[AuditEntry]:
        if limit <= 0:
            return []
        rows = await self._d.rows(
            "SELECT entry FROM audit WHERE seq > %s ORDER BY seq LIMIT %s", (after, limit)
        )
        return [decode_audit(bytes(row[0])) for row in rows]


class PostgresUsage:
    def __init__(self, database: PostgresDatabase) -> None:
        self._d = database

    async def most_used(self, limit: int) -> UsageRanking:
        rows = await self._d.rows(
            "SELECT module_id, count FROM usage ORDER BY count DESC, module_id LIMIT %s",
            (min(limit, 1 << 62),),
        )
        return [(UUID(str(module_id)), int(count)) for module_id, count in rows]


class PostgresDamage:
    """What ``StoreAdmin.damage`` answers for PostgreSQL: PostgreSQL keeps its own
    checksums and reports damage as errors; nothing is stepped over here."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._d = database

    def damage(self) -> DamageReport:
        return self._d.damage.report()


class PostgresNodes:
    """The ``NodeStore`` of a ``PostgresStore``: one row per node, upserted."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._d = database

    async def beat(self, node: NodeInfo) -> None:
        await self._d.rows(
            "INSERT INTO nodes (id, address, version, started_at, last_seen) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
            "address = excluded.address, version = excluded.version, "
            "started_at = excluded.started_at, last_seen = excluded.last_seen RETURNING id",
            (node.id, node.address, node.version, node.started_at, node.last_seen),
        )

    async def list(self, *, seen_since: datetime) -> builtins.list[NodeInfo]:
        rows = await self._d.rows(
            "SELECT id, address, version, started_at, last_seen FROM nodes "
            "WHERE last_seen >= %s ORDER BY id",
            (seen_since,),
        )
        return [
            NodeInfo(id=i, address=a, version=v, started_at=s, last_seen=seen)
            for i, a, v, s, seen in rows
        ]
