"""``MemoryRepository``: the in-memory ``ModuleRepository`` that tests and embeddings use.

It keeps the same stored form as the RocksDB backend (encoded records beside the
bytes, sealed when a keyring is given) so that a record that would not survive
encoding, bytes that do not match their digest, or a value that does not decrypt fail
here exactly as they would on disk. Nothing is durable.
"""

from __future__ import annotations

import bisect
import builtins
import itertools
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from uuid import UUID

from wess.errors import StorageUnavailable
from wess.models import ModuleInfo, ModuleRecord, SealedArtifact
from wess.security.audit import AuditEntry
from wess.security.crypto import Keyring
from wess.security.tokens import ApiKey
from wess.storage.base import (
    AddUsage,
    AppendAudit,
    Change,
    NamespaceUsage,
    PutApiKey,
    PutArtifact,
    PutModule,
    RemoveApiKey,
    RemoveModule,
    Transaction,
    UsageRanking,
)
from wess.storage.records import (
    decode_api_key,
    decode_audit,
    decode_info,
    encode_api_key,
    encode_audit,
    encode_info,
    verified_wasm,
)
from wess.storage.sealing import artifact_aad, check_opens, reseal, seal, unseal, wasm_aad

Stored = tuple[bytes, bytes]
"""A module as stored: encoded metadata and bytes."""


class MemoryRepository:
    """Modules in a dict; every commit is applied all at once or not at all."""

    def __init__(self, *, keyring: Keyring | None = None) -> None:
        self._keyring = keyring
        self._records: dict[str, Stored] = {}
        self._order: list[str] = []  # ids as strings, sorted: the listing order
        self._artifacts: dict[str, dict[tuple[str, str], bytes]] = {}  # id -> (digest, flavor)
        self._usage: dict[str, int] = {}
        self._keys: dict[str, bytes] = {}
        self._audit: dict[int, bytes] = {}
        self._closed = False
        self._view = _MemoryView(self._records, self._keys)

    async def get(self, module_id: UUID) -> ModuleRecord | None:
        """The module with its verified bytes, or None."""
        self._check_open()
        stored = self._records.get(str(module_id))
        if stored is None:
            return None
        info = decode_info(stored[0])
        aad = wasm_aad(info.id, info.digest)
        wasm = unseal(self._keyring, stored[1], aad, module_id=module_id, what="the stored bytes")
        return ModuleRecord(info=info, wasm=verified_wasm(info, wasm))

    async def get_info(self, module_id: UUID) -> ModuleInfo | None:
        """The module's metadata, or None."""
        self._check_open()
        return self._view.get_infos((module_id,))[module_id]

    async def list(
        self, *, namespace: str | None, after: UUID | None, limit: int
    ) -> list[ModuleInfo]:
        """Up to ``limit`` modules ordered by id, strictly after ``after``."""
        self._check_open()
        start = 0 if after is None else bisect.bisect_right(self._order, str(after))
        found: list[ModuleInfo] = []
        for key in itertools.islice(self._order, start, None):
            if len(found) >= limit:
                break
            info = decode_info(self._records[key][0])
            if namespace is None or info.namespace == namespace:
                found.append(info)
        return found

    async def count(self, *, namespace: str | None = None) -> int:
        """How many modules are stored (in ``namespace``, or in all)."""
        self._check_open()
        if namespace is None:
            return len(self._records)
        return sum(
            1 for meta, _ in self._records.values() if decode_info(meta).namespace == namespace
        )

    async def get_artifact(
        self, module_id: UUID, *, digest: str, flavor: str
    ) -> SealedArtifact | None:
        """The artifact stored for ``digest`` and ``flavor``, as stored, or None."""
        self._check_open()
        stored = self._artifacts.get(str(module_id), {}).get((digest, flavor))
        if stored is None:
            return None
        aad = artifact_aad(module_id, digest, flavor)
        what = f"the {flavor} artifact"
        data = unseal(self._keyring, stored, aad, module_id=module_id, what=what)
        return SealedArtifact(digest=digest, flavor=flavor, data=data)

    async def most_used(self, limit: int) -> UsageRanking:
        """Up to ``limit`` (module id, invocation count) pairs, most invoked first."""
        self._check_open()
        ranked = sorted(self._usage.items(), key=lambda item: (-item[1], item[0]))
        return [(UUID(key), count) for key, count in ranked[:limit]]

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        self._check_open()
        return self._view.get_api_key(key_id)

    async def list_api_keys(self) -> builtins.list[ApiKey]:
        """Every key record, ordered by id."""
        self._check_open()
        return [decode_api_key(self._keys[key_id]) for key_id in sorted(self._keys)]

    async def audit_head(self) -> AuditEntry | None:
        """The last audit entry (highest ``seq``), or None before the first."""
        self._check_open()
        return decode_audit(self._audit[max(self._audit)]) if self._audit else None

    async def list_audit(self, *, after: int, limit: int) -> builtins.list[AuditEntry]:
        """Up to ``limit`` entries with ``seq > after``, in ``seq`` order."""
        self._check_open()
        seqs = sorted(seq for seq in self._audit if seq > after)[: max(limit, 0)]
        return [decode_audit(self._audit[seq]) for seq in seqs]

    async def namespace_usage(self) -> NamespaceUsage:
        """Modules and wasm bytes stored per namespace."""
        self._check_open()
        usage: NamespaceUsage = {}
        for meta, _ in self._records.values():
            info = decode_info(meta)
            modules, size = usage.get(info.namespace, (0, 0))
            usage[info.namespace] = (modules + 1, size + info.size)
        return usage

    async def rewrap(self, keyring: Keyring) -> int:
        """Seal every value under ``keyring.current`` and use ``keyring`` from now on;
        nothing changes if ``keyring`` cannot unwrap one of them."""
        self._check_open()
        values = list(self._values())
        known: set[str] = set()
        for _, stored, _, module_id, what in values:
            check_opens(keyring, stored, known, module_id=module_id, what=what)
        self._keyring = keyring
        count = 0
        for put, stored, aad, module_id, what in values:
            resealed = reseal(keyring, stored, aad, module_id=module_id, what=what)
            if resealed is not None:
                put(resealed)
                count += 1
        return count

    async def commit(self, changes: Sequence[Change]) -> None:
        """Apply every change at once: all are encoded before any is applied."""
        self._check_open()
        staged: list[Callable[[], object]] = []  # applying cannot fail: all checks come first
        appended: set[int] = set()
        for change in changes:
            if isinstance(change, PutModule):
                info = change.record.info
                wasm = seal(self._keyring, change.record.wasm, wasm_aad(info.id, info.digest))
                staged.append(partial(self._apply, str(info.id), (encode_info(info), wasm)))
            elif isinstance(change, RemoveModule):
                staged.append(partial(self._apply, str(change.module_id), None))
            elif isinstance(change, PutArtifact):
                artifact = change.artifact
                aad = artifact_aad(change.module_id, artifact.digest, artifact.flavor)
                data = seal(self._keyring, artifact.data, aad)
                staged.append(partial(self._put_artifact, change, data))
            elif isinstance(change, AddUsage):
                if any(count < 0 for _, count in change.counts):
                    raise ValueError("usage counts only grow")
                staged.append(partial(self._add_usage, change))
            elif isinstance(change, PutApiKey):
                staged.append(
                    partial(self._keys.__setitem__, change.key.id, encode_api_key(change.key))
                )
            elif isinstance(change, RemoveApiKey):
                staged.append(partial(self._keys.pop, change.key_id, None))
            elif isinstance(change, AppendAudit):
                seq = change.entry.seq
                if seq < 1:
                    raise ValueError(f"audit sequence numbers start at 1, not {seq}")
                if seq in self._audit or seq in appended:
                    raise ValueError(f"audit entry {seq} exists already; entries never change")
                appended.add(seq)
                staged.append(partial(self._audit.__setitem__, seq, encode_audit(change.entry)))
            else:
                raise TypeError(f"unknown change {change!r}")
        for apply in staged:
            apply()

    async def transact(self, work: Transaction) -> None:
        """Call ``work`` with the store as it is and commit what it answers, at once."""
        self._check_open()
        await self.commit(work(self._view))

    async def ping(self) -> None:
        """Raise ``StorageUnavailable`` once closed."""
        self._check_open()

    async def aclose(self) -> None:
        """Drop everything; later calls raise ``StorageUnavailable``."""
        self._closed = True
        self._records.clear()
        self._order.clear()
        self._artifacts.clear()
        self._usage.clear()
        self._keys.clear()
        self._audit.clear()

    def _values(self) -> Iterator[tuple[Callable[[bytes], None], bytes, bytes, str, str]]:
        """(replace it, stored value, associated data, module id, what it is) of every
        module and artifact value."""
        for key, (meta, wasm) in self._records.items():
            info = decode_info(meta)
            put = partial(self._replace_wasm, key, meta)
            yield put, wasm, wasm_aad(info.id, info.digest), key, "the stored bytes"
        for key, artifacts in self._artifacts.items():
            for (digest, flavor), data in artifacts.items():
                put = partial(artifacts.__setitem__, (digest, flavor))
                aad = artifact_aad(UUID(key), digest, flavor)
                yield put, data, aad, key, f"the {flavor} artifact"

    def _replace_wasm(self, key: str, meta: bytes, wasm: bytes) -> None:
        self._records[key] = (meta, wasm)

    def _put_artifact(self, change: PutArtifact, data: bytes) -> None:
        stored = self._records.get(str(change.module_id))
        artifact = change.artifact
        if stored is not None and decode_info(stored[0]).digest == artifact.digest:
            artifacts = self._artifacts.setdefault(str(change.module_id), {})
            artifacts[(artifact.digest, artifact.flavor)] = data

    def _add_usage(self, change: AddUsage) -> None:
        for module_id, count in change.counts:
            key = str(module_id)
            if key in self._records:
                self._usage[key] = self._usage.get(key, 0) + count

    def _apply(self, key: str, stored: Stored | None) -> None:
        present = key in self._records
        if stored is None:
            if present:
                del self._records[key]
                self._order.pop(bisect.bisect_left(self._order, key))
            self._artifacts.pop(key, None)
            self._usage.pop(key, None)
            return
        digest = decode_info(stored[0]).digest
        artifacts = self._artifacts.get(key, {})
        for stale in [k for k in artifacts if k[0] != digest]:
            del artifacts[stale]
        if not present:
            bisect.insort(self._order, key)
        self._records[key] = stored

    def _check_open(self) -> None:
        if self._closed:
            raise StorageUnavailable("the in-memory module store is closed")


class _MemoryView:
    """The ``StoreView`` of a ``MemoryRepository``: its dicts, read as they are."""

    def __init__(self, records: dict[str, Stored], keys: dict[str, bytes]) -> None:
        self._records = records
        self._keys = keys

    def get_infos(self, module_ids: Sequence[UUID]) -> dict[UUID, ModuleInfo | None]:
        found: dict[UUID, ModuleInfo | None] = {}
        for module_id in module_ids:
            stored = self._records.get(str(module_id))
            found[module_id] = None if stored is None else decode_info(stored[0])
        return found

    def get_api_key(self, key_id: str) -> ApiKey | None:
        stored = self._keys.get(key_id)
        return None if stored is None else decode_api_key(stored)
