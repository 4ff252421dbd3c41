"""``RocksModules``: the ``ModuleStore`` of a ``RocksStore``.

Metadata lives apart from bytes, so ``get_info``, ``list`` and ``count`` never read
wasm; a module read takes both keys in one multi-get, at one sequence number, so it
never sees half an update.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from wess.errors import IntegrityError
from wess.models import ModuleInfo, ModuleRecord, SealedArtifact
from wess.storage.modules import NamespaceUsage
from wess.storage.records import decode_info, verified_wasm
from wess.storage.rocks.batch import ModuleStates, state_of
from wess.storage.rocks.database import RocksDatabase
from wess.storage.rocks.layout import (
    ARTIFACTS,
    META,
    MODULES,
    REVISION_META,
    REVISION_WASM,
    WASM,
    artifact_key,
    index_prefix,
    module_key,
    name_key,
    revision_key,
    scan,
    scan_keys,
)
from wess.storage.sealing import artifact_aad, unseal, wasm_aad


class RocksModules:
    def __init__(self, database: RocksDatabase) -> None:
        self._d = database  # families looked up per call: a reference would keep the
        # database open after ``close`` (rocksdict closes it when the last one goes)

    async def get(self, module_id: UUID) -> ModuleRecord | None:
        return await self._d.read(self._get, module_id, module_id=module_id)

    async def get_info(self, module_id: UUID) -> ModuleInfo | None:
        return await self._d.read(self._get_info, module_id, module_id=module_id)

    async def list(
        self, *, namespace: str | None, after: UUID | None, limit: int
    ) -> builtins.list[ModuleInfo]:
        return await self._d.read(self._list, namespace, after, limit)

    async def count(self, *, namespace: str | None = None) -> int:
        return await self._d.read(self._count, namespace)

    async def namespace_usage(self) -> NamespaceUsage:
        """One scan of the metadata."""
        return await self._d.read(self._namespace_usage)

    async def get_revision(self, module_id: UUID, revision: int) -> ModuleRecord | None:
        return await self._d.read(self._get_revision, module_id, revision, module_id=module_id)

    async def find(self, namespace: str, name: str) -> UUID | None:
        found = await self._d.read(self.find_names, ((namespace, name),))
        return found[(namespace, name)]

    async def get_artifact(
        self, module_id: UUID, *, digest: str, flavor: str
    ) -> SealedArtifact | None:
        return await self._d.read(
            self._get_artifact, module_id, digest, flavor, module_id=module_id
        )

    # -- blocking parts, run on the read threads (and by a transaction's view) ---------------

    def get_infos(
        self, module_ids: Sequence[UUID], known: ModuleStates | None = None
    ) -> dict[UUID, ModuleInfo | None]:
        """The infos of ``module_ids`` in one multi-get (every key read at the same
        sequence number); what it finds also goes into ``known``, by key."""
        if not module_ids:
            return {}
        keys = [module_key(module_id) for module_id in module_ids]
        found: Any = self._d.family[MODULES][[META + key for key in keys]]
        infos: dict[UUID, ModuleInfo | None] = {}
        for module_id, key, meta in zip(module_ids, keys, found, strict=True):
            info = None if meta is None else decode_info(meta)
            infos[module_id] = info
            if known is not None:
                known[key] = None if info is None else state_of(info)
        return infos

    def find_names(self, names: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UUID | None]:
        """The module holding each (namespace, name), in one multi-get."""
        if not names:
            return {}
        found: Any = self._d.family[MODULES][[name_key(ns, name) for ns, name in names]]
        return {
            pair: None if held is None else UUID(bytes(held).decode())
            for pair, held in zip(names, found, strict=True)
        }

    def usage_of(self, namespaces: Sequence[str]) -> NamespaceUsage:
        """Modules and wasm bytes of each of ``namespaces``, from its listing index."""
        usage: NamespaceUsage = {}
        family = self._d.family[MODULES]
        for namespace in namespaces:
            prefix = index_prefix(namespace)
            keys: Any = [META + key[len(prefix) :] for key in scan_keys(family, prefix)]
            found: Any = family[keys] if keys else []  # one multi-get
            infos = [decode_info(meta) for meta in found if meta is not None]
            if infos:
                usage[namespace] = (len(infos), sum(info.size for info in infos))
        return usage

    def _get(self, module_id: UUID) -> ModuleRecord | None:
        key = module_key(module_id)
        return self._read_pair(module_id, META + key, WASM + key)

    def _get_revision(self, module_id: UUID, revision: int) -> ModuleRecord | None:
        key = module_key(module_id)
        meta_key = revision_key(REVISION_META, key, revision)
        return self._read_pair(module_id, meta_key, revision_key(REVISION_WASM, key, revision))

    def _read_pair(self, module_id: UUID, meta_key: bytes, wasm_key: bytes) -> ModuleRecord | None:
        found: Any = self._d.family[MODULES][[meta_key, wasm_key]]
        meta, wasm = found
        if meta is None:
            return None
        info = decode_info(meta)
        if wasm is None:
            raise IntegrityError(
                f"module {module_id} has metadata but no stored bytes", module_id=str(module_id)
            )
        aad = wasm_aad(info.id, info.digest)
        plain = unseal(self._d.keyring, wasm, aad, module_id=module_id, what="the stored bytes")
        return ModuleRecord(info=info, wasm=verified_wasm(info, plain))

    def _get_info(self, module_id: UUID) -> ModuleInfo | None:
        meta = self._d.family[MODULES].get(META + module_key(module_id))
        return None if meta is None else decode_info(meta)

    def _get_artifact(self, module_id: UUID, digest: str, flavor: str) -> SealedArtifact | None:
        stored = self._d.family[ARTIFACTS].get(artifact_key(module_key(module_id), digest, flavor))
        if stored is None:
            return None
        data = unseal(
            self._d.keyring,
            stored,
            artifact_aad(module_id, digest, flavor),
            module_id=module_id,
            what=f"the {flavor} artifact",
        )
        return SealedArtifact(digest=digest, flavor=flavor, data=data)

    def _list(
        self, namespace: str | None, after: UUID | None, limit: int
    ) -> builtins.list[ModuleInfo]:
        """A page of the listing. A record the store cannot read (its block is damaged,
        or it does not decode) is left out and noted in the damage log, which ``/readyz``
        reports: the others are listed all the same."""
        snapshot = self._d.family[MODULES].snapshot()
        prefix = META if namespace is None else index_prefix(namespace)
        start = prefix + (b"" if after is None else module_key(after))
        found: builtins.list[ModuleInfo] = []
        for key, value in scan(snapshot, prefix, start, skipped=self._d.skipped(MODULES)):
            if len(found) >= limit:
                break
            if after is not None and key == start:
                continue
            meta: bytes | None = value
            if namespace is not None:  # an index entry: read the module's record
                meta_key = META + key[len(prefix) :]
                try:
                    meta = next((v for _, v in scan(snapshot, meta_key, meta_key)), None)
                except Exception as exc:
                    if "Corruption" not in str(exc):
                        raise
                    meta = None
            if meta is None:
                self._d.damage.unreadable(f"module {key[-36:].decode(errors='replace')}")
                continue
            try:
                found.append(decode_info(meta))
            except IntegrityError:
                self._d.damage.unreadable(f"module record {key[-36:].decode(errors='replace')}")
        return found

    def _count(self, namespace: str | None) -> int:
        prefix = META if namespace is None else index_prefix(namespace)
        skipped = self._d.skipped(MODULES)
        return sum(1 for _ in scan(self._d.family[MODULES], prefix, prefix, skipped=skipped))

    def _namespace_usage(self) -> NamespaceUsage:
        usage: NamespaceUsage = {}
        snapshot = self._d.family[MODULES].snapshot()
        for _, value in scan(snapshot, META, META, skipped=self._d.skipped(MODULES)):
            try:
                info = decode_info(value)
            except IntegrityError:
                continue  # one unreadable record does not make the others' usage unknown
            modules, size = usage.get(info.namespace, (0, 0))
            usage[info.namespace] = (modules + 1, size + info.size)
        return usage
