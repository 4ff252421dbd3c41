"""``MemoryStore``: the in-memory ``Store`` that tests and embeddings use.

It keeps the same stored form as the RocksDB backend (encoded records beside the
bytes, sealed when a keyring is given) so that a record that would not survive
encoding, bytes that do not match their digest, or a value that does not decrypt fail
here exactly as they would on disk. Nothing is durable.

One ``_Tables`` holds everything; each concept store reads its part of it, and
``MemoryStore.commit`` stages every change before it applies any, so a commit lands
whole or not at all.
"""

from __future__ import annotations

import bisect
import builtins
import itertools
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from uuid import UUID

from wess.errors import ConfigError, StorageUnavailable
from wess.models import (
    ApiKey,
    AuditEntry,
    ModuleInfo,
    ModuleRecord,
    SealedArtifact,
    is_addressable_name,
)
from wess.security.crypto import Keyring
from wess.storage.audit import AppendAudit, RewriteAudit
from wess.storage.base import Change, Transaction
from wess.storage.damage import NO_DAMAGE, DamageReport
from wess.storage.events import PublishEvent
from wess.storage.invocations import MemoryInvocations
from wess.storage.keys import PutApiKey, RemoveApiKey
from wess.storage.kv import MemoryKv
from wess.storage.modules import (
    NamespaceUsage,
    PutArtifact,
    PutModule,
    PutModuleInfo,
    PutRevision,
    RemoveModule,
    RemoveRevision,
)
from wess.storage.nodes import LocalNodes
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
from wess.storage.usage import AddUsage, UsageRanking

Stored = tuple[bytes, bytes]
"""A module as stored: encoded metadata and bytes."""


class _Tables:
    """Everything a ``MemoryStore`` holds, in its stored (encoded, sealed) form."""

    def __init__(self, keyring: Keyring | None) -> None:
        self.keyring = keyring
        self.records: dict[str, Stored] = {}
        self.order: list[str] = []  # ids as strings, sorted: the listing order
        self.artifacts: dict[str, dict[tuple[str, str], bytes]] = {}  # id -> (digest, flavor)
        self.revisions: dict[str, dict[int, Stored]] = {}  # id -> revision -> stored
        self.names: dict[tuple[str, str], str] = {}  # (namespace, name) -> id
        self.usage: dict[str, int] = {}
        self.keys: dict[str, bytes] = {}
        self.audit: dict[int, bytes] = {}
        self.closed = False

    def check_open(self) -> None:
        if self.closed:
            raise StorageUnavailable("the in-memory store is closed")

    def infos(self, module_ids: Sequence[UUID]) -> dict[UUID, ModuleInfo | None]:
        found: dict[UUID, ModuleInfo | None] = {}
        for module_id in module_ids:
            stored = self.records.get(str(module_id))
            found[module_id] = None if stored is None else decode_info(stored[0])
        return found

    def api_key(self, key_id: str) -> ApiKey | None:
        stored = self.keys.get(key_id)
        return None if stored is None else decode_api_key(stored)

    def find_names(self, names: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UUID | None]:
        found: dict[tuple[str, str], UUID | None] = {}
        for pair in names:
            held = self.names.get(pair)
            found[pair] = None if held is None else UUID(held)
        return found

    def record(self, stored: Stored, module_id: UUID) -> ModuleRecord:
        info = decode_info(stored[0])
        aad = wasm_aad(info.id, info.digest)
        wasm = unseal(self.keyring, stored[1], aad, module_id=module_id, what="the stored bytes")
        return ModuleRecord(info=info, wasm=verified_wasm(info, wasm))


class MemoryModules:
    """The ``ModuleStore`` of a ``MemoryStore``."""

    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    async def get(self, module_id: UUID) -> ModuleRecord | None:
        self._t.check_open()
        stored = self._t.records.get(str(module_id))
        return None if stored is None else self._t.record(stored, module_id)

    async def get_revision(self, module_id: UUID, revision: int) -> ModuleRecord | None:
        self._t.check_open()
        stored = self._t.revisions.get(str(module_id), {}).get(revision)
        return None if stored is None else self._t.record(stored, module_id)

    async def find(self, namespace: str, name: str) -> UUID | None:
        self._t.check_open()
        return self._t.find_names(((namespace, name),))[(namespace, name)]

    async def get_info(self, module_id: UUID) -> ModuleInfo | None:
        self._t.check_open()
        return self._t.infos((module_id,))[module_id]

    async def list(
        self, *, namespace: str | None, after: UUID | None, limit: int
    ) -> builtins.list[ModuleInfo]:
        self._t.check_open()
        order = self._t.order
        start = 0 if after is None else bisect.bisect_right(order, str(after))
        found: builtins.list[ModuleInfo] = []
        for key in itertools.islice(order, start, None):
            if len(found) >= limit:
                break
            info = decode_info(self._t.records[key][0])
            if namespace is None or info.namespace == namespace:
                found.append(info)
        return found

    async def count(self, *, namespace: str | None = None) -> int:
        self._t.check_open()
        records = self._t.records
        if namespace is None:
            return len(records)
        return sum(1 for meta, _ in records.values() if decode_info(meta).namespace == namespace)

    async def namespace_usage(self) -> NamespaceUsage:
        self._t.check_open()
        usage: NamespaceUsage = {}
        for meta, _ in self._t.records.values():
            info = decode_info(meta)
            modules, size = usage.get(info.namespace, (0, 0))
            usage[info.namespace] = (modules + 1, size + info.size)
        return usage

    async def get_artifact(
        self, module_id: UUID, *, digest: str, flavor: str
    ) -> SealedArtifact | None:
        self._t.check_open()
        stored = self._t.artifacts.get(str(module_id), {}).get((digest, flavor))
        if stored is None:
            return None
        aad = artifact_aad(module_id, digest, flavor)
        what = f"the {flavor} artifact"
        data = unseal(self._t.keyring, stored, aad, module_id=module_id, what=what)
        return SealedArtifact(digest=digest, flavor=flavor, data=data)


class MemoryApiKeys:
    """The ``ApiKeyStore`` of a ``MemoryStore``."""

    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    async def get(self, key_id: str) -> ApiKey | None:
        self._t.check_open()
        return self._t.api_key(key_id)

    async def list(self) -> builtins.list[ApiKey]:
        self._t.check_open()
        return [decode_api_key(self._t.keys[key_id]) for key_id in sorted(self._t.keys)]


class MemoryAudit:
    """The ``AuditStore`` of a ``MemoryStore``."""

    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    async def head(self) -> AuditEntry | None:
        self._t.check_open()
        audit = self._t.audit
        return decode_audit(audit[max(audit)]) if audit else None

    async def list(self, *, after: int, limit: int) -> builtins.list[AuditEntry]:
        self._t.check_open()
        seqs = sorted(seq for seq in self._t.audit if seq > after)[: max(limit, 0)]
        return [decode_audit(self._t.audit[seq]) for seq in seqs]


class MemoryUsage:
    """The ``UsageStore`` of a ``MemoryStore``."""

    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    async def most_used(self, limit: int) -> UsageRanking:
        self._t.check_open()
        ranked = sorted(self._t.usage.items(), key=lambda item: (-item[1], item[0]))
        return [(UUID(key), count) for key, count in ranked[:limit]]


class MemoryAdmin:
    """The ``StoreAdmin`` of a ``MemoryStore``."""

    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    def damage(self) -> DamageReport:
        """Nothing: dicts do not rot."""
        return NO_DAMAGE

    def memory(self) -> dict[str, int]:
        """Nothing of an engine's: the dicts are the data."""
        return {}

    async def rewrap(self, keyring: Keyring) -> int:
        """Seal every value under ``keyring.current`` and use ``keyring`` from now on;
        nothing changes if ``keyring`` cannot unwrap one of them."""
        self._t.check_open()
        values = builtins.list(self._values())
        known: set[str] = set()
        for _, stored, _, module_id, what in values:
            check_opens(keyring, stored, known, module_id=module_id, what=what)
        self._t.keyring = keyring
        count = 0
        for put, stored, aad, module_id, what in values:
            resealed = reseal(keyring, stored, aad, module_id=module_id, what=what)
            if resealed is not None:
                put(resealed)
                count += 1
        return count

    async def checkpoint(self, path: str) -> None:
        """Refused: a memory store keeps nothing a copy could be restored from."""
        raise ConfigError(
            "a memory:// store keeps nothing on disk to back up; export it (wess export)"
        )

    def _values(self) -> Iterator[tuple[Callable[[bytes], None], bytes, bytes, str, str]]:
        """(replace it, stored value, associated data, module id, what it is) of every
        module and artifact value."""
        records = self._t.records
        for key, (meta, wasm) in records.items():
            info = decode_info(meta)
            put = partial(_replace_wasm, records, key, meta)
            yield put, wasm, wasm_aad(info.id, info.digest), key, "the stored bytes"
        for key, revisions in self._t.revisions.items():
            for number, (meta, wasm) in revisions.items():
                info = decode_info(meta)
                put = partial(_replace_revision, revisions, number, meta)
                yield put, wasm, wasm_aad(info.id, info.digest), key, "the stored bytes"
        for key, artifacts in self._t.artifacts.items():
            for (digest, flavor), data in artifacts.items():
                put = partial(artifacts.__setitem__, (digest, flavor))
                aad = artifact_aad(UUID(key), digest, flavor)
                yield put, data, aad, key, f"the {flavor} artifact"


def _replace_wasm(records: dict[str, Stored], key: str, meta: bytes, wasm: bytes) -> None:
    records[key] = (meta, wasm)


def _replace_revision(revisions: dict[int, Stored], number: int, meta: bytes, wasm: bytes) -> None:
    revisions[number] = (meta, wasm)


class MemoryStore:
    """A ``Store`` in dicts; every commit is applied all at once or not at all."""

    def __init__(self, *, keyring: Keyring | None = None) -> None:
        self._t = _Tables(keyring)
        self._modules = MemoryModules(self._t)
        self._keys = MemoryApiKeys(self._t)
        self._audit = MemoryAudit(self._t)
        self._usage = MemoryUsage(self._t)
        self._admin = MemoryAdmin(self._t)
        self._nodes = LocalNodes()
        self._invocations = MemoryInvocations()
        self._kv = MemoryKv()

    @property
    def modules(self) -> MemoryModules:
        return self._modules

    @property
    def keys(self) -> MemoryApiKeys:
        return self._keys

    @property
    def audit(self) -> MemoryAudit:
        return self._audit

    @property
    def usage(self) -> MemoryUsage:
        return self._usage

    @property
    def nodes(self) -> LocalNodes:
        return self._nodes

    @property
    def invocations(self) -> MemoryInvocations:
        return self._invocations

    @property
    def kv(self) -> MemoryKv:
        return self._kv

    @property
    def admin(self) -> MemoryAdmin:
        return self._admin

    async def commit(self, changes: Sequence[Change]) -> None:
        """Apply every change at once: all are encoded and checked before any is applied."""
        self._t.check_open()
        appended: set[int] = set()
        staged = [self._stage(change, appended) for change in changes]
        for apply in staged:  # applying cannot fail: every check came first
            apply()

    async def transact(self, work: Transaction) -> None:
        """Call ``work`` with the store as it is and commit what it answers, at once."""
        self._t.check_open()
        await self.commit(work(_MemoryView(self._t)))

    def feed(self) -> None:
        """None: no other process shares a memory store."""
        return None

    async def ping(self) -> None:
        """Raise ``StorageUnavailable`` once closed."""
        self._t.check_open()

    async def aclose(self) -> None:
        """Drop everything; later calls raise ``StorageUnavailable``."""
        t = self._t
        t.closed = True
        for table in (t.records, t.artifacts, t.usage, t.keys, t.audit, t.revisions, t.names):
            table.clear()
        t.order.clear()

    def _stage(self, change: Change, appended: set[int]) -> Callable[[], object]:
        t = self._t
        if isinstance(change, PutModule):
            info = change.record.info
            wasm = seal(t.keyring, change.record.wasm, wasm_aad(info.id, info.digest))
            return partial(self._apply, str(info.id), (encode_info(info), wasm))
        if isinstance(change, PutModuleInfo):
            return partial(self._put_info, change.info, encode_info(change.info))
        if isinstance(change, PutRevision):
            info = change.record.info
            wasm = seal(t.keyring, change.record.wasm, wasm_aad(info.id, info.digest))
            stored = (encode_info(info), wasm)
            return partial(self._put_revision, str(info.id), info.revision, stored)
        if isinstance(change, RemoveRevision):
            return partial(self._remove_revision, str(change.module_id), change.revision)
        if isinstance(change, RemoveModule):
            return partial(self._apply, str(change.module_id), None)
        if isinstance(change, PutArtifact):
            artifact = change.artifact
            aad = artifact_aad(change.module_id, artifact.digest, artifact.flavor)
            return partial(self._put_artifact, change, seal(t.keyring, artifact.data, aad))
        if isinstance(change, AddUsage):
            if any(count < 0 for _, count in change.counts):
                raise ValueError("usage counts only grow")
            return partial(self._add_usage, change)
        if isinstance(change, PutApiKey):
            return partial(t.keys.__setitem__, change.key.id, encode_api_key(change.key))
        if isinstance(change, RemoveApiKey):
            return partial(t.keys.pop, change.key_id, None)
        if isinstance(change, AppendAudit):
            seq = change.entry.seq
            if seq < 1:
                raise ValueError(f"audit sequence numbers start at 1, not {seq}")
            if seq in t.audit or seq in appended:
                raise ValueError(f"audit entry {seq} exists already; entries never change")
            appended.add(seq)
            return partial(t.audit.__setitem__, seq, encode_audit(change.entry))
        if isinstance(change, RewriteAudit):
            seq = change.entry.seq
            if seq not in t.audit and seq not in appended:
                raise ValueError(f"audit entry {seq} is not stored; only stored ones are rewritten")
            return partial(t.audit.__setitem__, seq, encode_audit(change.entry))
        if isinstance(change, PublishEvent):
            return _nothing  # one process owns this store: its Writer told its caches
        raise TypeError(f"unknown change {change!r}")

    def _put_info(self, info: ModuleInfo, meta: bytes) -> None:
        key = str(info.id)
        stored = self._t.records.get(key)
        if stored is not None and decode_info(stored[0]).digest == info.digest:
            self._t.records[key] = (meta, stored[1])

    def _put_revision(self, key: str, number: int, stored: Stored) -> None:
        if key in self._t.records:
            self._t.revisions.setdefault(key, {})[number] = stored

    def _remove_revision(self, key: str, number: int) -> None:
        self._t.revisions.get(key, {}).pop(number, None)

    def _put_artifact(self, change: PutArtifact, data: bytes) -> None:
        stored = self._t.records.get(str(change.module_id))
        artifact = change.artifact
        if stored is not None and artifact.digest in _digests(decode_info(stored[0])):
            artifacts = self._t.artifacts.setdefault(str(change.module_id), {})
            artifacts[(artifact.digest, artifact.flavor)] = data

    def _add_usage(self, change: AddUsage) -> None:
        t = self._t
        for module_id, count in change.counts:
            key = str(module_id)
            if key in t.records:
                t.usage[key] = t.usage.get(key, 0) + count

    def _apply(self, key: str, stored: Stored | None) -> None:
        t = self._t
        present = key in t.records
        if present:  # its name leaves the index (put back below if it keeps it)
            previous = decode_info(t.records[key][0])
            if t.names.get((previous.namespace, previous.name)) == key:
                del t.names[(previous.namespace, previous.name)]
        if stored is None:
            if present:
                del t.records[key]
                t.order.pop(bisect.bisect_left(t.order, key))
            t.artifacts.pop(key, None)
            t.usage.pop(key, None)
            t.revisions.pop(key, None)
            return
        info = decode_info(stored[0])
        kept = _digests(info)
        artifacts = t.artifacts.get(key, {})
        for stale in [k for k in artifacts if k[0] not in kept]:
            del artifacts[stale]
        if not present:
            bisect.insort(t.order, key)
        t.records[key] = stored
        if is_addressable_name(info.name):
            t.names.setdefault((info.namespace, info.name), key)


def _nothing() -> None:
    return None


def _digests(info: ModuleInfo) -> set[str]:
    """The digests of the bytes ``info``'s retained revisions hold."""
    return {ref.digest for ref in info.retained}


class _MemoryView:
    """The ``StoreView`` of a ``MemoryStore``: its tables, read as they are."""

    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    def get_infos(self, module_ids: Sequence[UUID]) -> dict[UUID, ModuleInfo | None]:
        return self._t.infos(module_ids)

    def get_api_key(self, key_id: str) -> ApiKey | None:
        return self._t.api_key(key_id)

    def find_names(self, names: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UUID | None]:
        return self._t.find_names(names)

    def namespace_usage(self, namespaces: Sequence[str]) -> NamespaceUsage:
        wanted = set(namespaces)
        usage: NamespaceUsage = {}
        for meta, _ in self._t.records.values():
            info = decode_info(meta)
            if info.namespace in wanted:
                modules, size = usage.get(info.namespace, (0, 0))
                usage[info.namespace] = (modules + 1, size + info.size)
        return usage

    def audit_head(self) -> AuditEntry | None:
        audit = self._t.audit
        return decode_audit(audit[max(audit)]) if audit else None
