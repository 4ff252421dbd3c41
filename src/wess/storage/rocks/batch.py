"""How one commit becomes one ``WriteBatch``: every change staged, then applied in order.

``stage`` encodes (and seals) a change before anything is written, so a bad change
fails the commit whole. ``BatchBuilder`` applies a commit's staged changes in order to
the state they find (the store, then the earlier changes of the same commit), so a
module's metadata, bytes, index entry, artifacts and count always change together: a
new digest drops the artifacts of the old one, a removal drops everything, and an
artifact or a count for a module that is gone (or changed meanwhile) is dropped
instead of orphaned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rocksdict import WriteBatch

from wess.models import ModuleInfo, is_addressable_name
from wess.security.crypto import Keyring
from wess.storage.audit import AppendAudit, RewriteAudit
from wess.storage.base import Change
from wess.storage.keys import PutApiKey, RemoveApiKey
from wess.storage.modules import (
    PutArtifact,
    PutModule,
    PutModuleInfo,
    PutRevision,
    RemoveModule,
    RemoveRevision,
)
from wess.storage.records import decode_info, encode_api_key, encode_audit, encode_info
from wess.storage.rocks.layout import (
    ARTIFACTS,
    AUDIT,
    COUNT_BYTES,
    KEYS,
    MAX_COUNT,
    META,
    MODULES,
    REVISION_META,
    REVISION_WASM,
    SEPARATOR,
    USAGE,
    WASM,
    api_key_key,
    artifact_key,
    artifact_prefix,
    audit_key,
    index_prefix,
    module_key,
    name_key,
    revision_key,
    revision_prefix,
    scan_keys,
)
from wess.storage.sealing import artifact_aad, seal, wasm_aad
from wess.storage.usage import AddUsage


@dataclass(frozen=True, slots=True)
class Encoded:
    """A module ready for the batch: encoded metadata and bytes."""

    namespace: str
    name: str
    digest: str
    digests: frozenset[str]
    """The digests of its retained revisions: the artifacts it keeps."""
    meta: bytes
    wasm: bytes


@dataclass(frozen=True, slots=True)
class StagedInfo:
    """New metadata for a module holding ``digest`` (its bytes stay)."""

    key: bytes
    digest: str
    digests: frozenset[str]
    meta: bytes


@dataclass(frozen=True, slots=True)
class StagedRevision:
    key: bytes
    revision: int
    put: tuple[bytes, bytes] | None  # (meta, wasm); None: remove


@dataclass(frozen=True, slots=True)
class StagedModule:
    key: bytes
    put: Encoded | None  # None: remove


@dataclass(frozen=True, slots=True)
class StagedArtifact:
    key: bytes
    digest: str
    flavor: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StagedUsage:
    counts: tuple[tuple[bytes, int], ...]


@dataclass(frozen=True, slots=True)
class StagedApiKey:
    key: bytes
    value: bytes | None  # None: remove


@dataclass(frozen=True, slots=True)
class StagedAudit:
    key: bytes
    value: bytes
    rewrite: bool = False


Staged = (
    StagedModule
    | StagedInfo
    | StagedRevision
    | StagedArtifact
    | StagedUsage
    | StagedApiKey
    | StagedAudit
)


def stage(change: Change, keyring: Keyring | None) -> Staged:
    """``change`` encoded, and module bytes and artifacts sealed with ``keyring`` (if
    any); pure, and raises ``ValueError`` before anything is written."""
    if isinstance(change, PutModule):
        info = change.record.info
        # The associated data only matters to a keyring: not built per write without one.
        aad = b"" if keyring is None else wasm_aad(info.id, info.digest)
        wasm = seal(keyring, change.record.wasm, aad)
        digests = frozenset(ref.digest for ref in info.retained)
        encoded = Encoded(info.namespace, info.name, info.digest, digests, encode_info(info), wasm)
        return StagedModule(module_key(info.id), encoded)
    if isinstance(change, PutModuleInfo):
        info = change.info
        digests = frozenset(ref.digest for ref in info.retained)
        return StagedInfo(module_key(info.id), info.digest, digests, encode_info(info))
    if isinstance(change, PutRevision):
        info = change.record.info
        aad = b"" if keyring is None else wasm_aad(info.id, info.digest)
        wasm = seal(keyring, change.record.wasm, aad)
        return StagedRevision(module_key(info.id), info.revision, (encode_info(info), wasm))
    if isinstance(change, RemoveRevision):
        return StagedRevision(module_key(change.module_id), change.revision, None)
    if isinstance(change, RemoveModule):
        return StagedModule(module_key(change.module_id), None)
    if isinstance(change, PutArtifact):
        artifact = change.artifact
        if any(SEPARATOR.decode() in part for part in (artifact.digest, artifact.flavor)):
            raise ValueError(f"artifact digest and flavor may not contain {SEPARATOR!r}")
        aad = artifact_aad(change.module_id, artifact.digest, artifact.flavor)
        return StagedArtifact(
            module_key(change.module_id),
            artifact.digest,
            artifact.flavor,
            seal(keyring, artifact.data, aad),
        )
    if isinstance(change, AddUsage):
        if any(count < 0 for _, count in change.counts):
            raise ValueError("usage counts only grow")
        return StagedUsage(tuple((module_key(m), count) for m, count in change.counts))
    if isinstance(change, PutApiKey):
        return StagedApiKey(api_key_key(change.key.id), encode_api_key(change.key))
    if isinstance(change, RemoveApiKey):
        return StagedApiKey(api_key_key(change.key_id), None)
    if isinstance(change, AppendAudit | RewriteAudit):
        rewrite = isinstance(change, RewriteAudit)
        return StagedAudit(audit_key(change.entry.seq), encode_audit(change.entry), rewrite)
    raise TypeError(f"unknown change {change!r}")


# -- one commit, one batch ----------------------------------------------------------------------


ModuleState = tuple[str, str, str, frozenset[str]]
"""(namespace, name, digest, digests of its retained revisions) of a stored module."""
ModuleStates = dict[bytes, ModuleState | None]
"""Module key -> its state as stored, None: absent."""


def state_of(info: ModuleInfo) -> ModuleState:
    return info.namespace, info.name, info.digest, frozenset(ref.digest for ref in info.retained)


class BatchBuilder:
    """Turns staged changes into one ``WriteBatch`` against the database as it is now.

    Reads what it needs (a module's namespace and digest, its artifact keys, its count)
    once, then follows the batch's own changes. ``known`` holds modules already read
    from the database as it is now (on the same thread, with no write since), taken as
    read. ``family`` and ``handle`` map each column family's name to its readable
    ``Rdict`` and to its handle in a batch (``RocksDatabase``).
    """

    def __init__(
        self,
        family: Mapping[str, Any],
        handle: Mapping[str, Any],
        *,
        known: ModuleStates | None = None,
    ) -> None:
        self._modules_cf = family[MODULES]
        self._artifacts_cf = family[ARTIFACTS]
        self._usage_cf = family[USAGE]
        self._audit_cf = family[AUDIT]
        self._h_modules = handle[MODULES]
        self._h_artifacts = handle[ARTIFACTS]
        self._h_usage = handle[USAGE]
        self._h_keys = handle[KEYS]
        self._h_audit = handle[AUDIT]
        self.batch = WriteBatch(raw_mode=True)
        self._modules: ModuleStates = {} if known is None else known
        self._artifacts: dict[bytes, set[bytes]] = {}
        self._revisions: dict[bytes, set[bytes]] = {}  # module key -> its r:/v: keys
        self._names: dict[bytes, bytes | None] = {}  # name key -> module key
        self._usage: dict[bytes, int] = {}
        self._audit: set[bytes] = set()
        self._prefixes: dict[str, bytes] = {}
        self.values_written = 0
        """Module bytes and artifacts put in the batch (sealed, with a keyring)."""

    def add(self, staged: Staged) -> None:
        if isinstance(staged, StagedModule):
            self._module(staged.key, staged.put)
        elif isinstance(staged, StagedInfo):
            current = self._current(staged.key)
            if current is not None and current[2] == staged.digest:
                self.batch.put(META + staged.key, staged.meta, self._h_modules)
                self._modules[staged.key] = (current[0], current[1], current[2], staged.digests)
        elif isinstance(staged, StagedRevision):
            self._revision(staged)
        elif isinstance(staged, StagedArtifact):
            current = self._current(staged.key)
            if current is not None and staged.digest in current[3]:
                key = artifact_key(staged.key, staged.digest, staged.flavor)
                self.batch.put(key, staged.data, self._h_artifacts)
                self._artifact_keys(staged.key).add(key)
                self.values_written += 1
        elif isinstance(staged, StagedApiKey):
            if staged.value is None:
                self.batch.delete(staged.key, self._h_keys)
            else:
                self.batch.put(staged.key, staged.value, self._h_keys)
        elif isinstance(staged, StagedAudit):
            stored = staged.key in self._audit or self._audit_cf.get(staged.key) is not None
            if stored != staged.rewrite:
                seq = int.from_bytes(staged.key, "big")
                raise ValueError(
                    f"audit entry {seq} exists already; entries never change"
                    if stored
                    else f"audit entry {seq} is not stored; only stored ones are rewritten"
                )
            self._audit.add(staged.key)
            self.batch.put(staged.key, staged.value, self._h_audit)
        else:
            for key, count in staged.counts:
                if self._current(key) is not None:
                    total = min(self._count(key) + count, MAX_COUNT)
                    self._usage[key] = total
                    self.batch.put(key, total.to_bytes(COUNT_BYTES, "big"), self._h_usage)

    def _module(self, key: bytes, put: Encoded | None) -> None:
        modules = self._h_modules
        previous = self._current(key)
        if previous is not None and (put is None or previous[0] != put.namespace):
            self.batch.delete(self._index(previous[0]) + key, modules)
        if previous is not None:  # its name leaves the index (put back below if kept)
            old_name = name_key(previous[0], previous[1])
            if self._name_holder(old_name) == key:
                self.batch.delete(old_name, modules)
                self._names[old_name] = None
        # An absent module has no artifacts (they are only ever stored beside one, and go
        # with it), unless this batch stored some: no scan for a new module.
        if previous is not None or key in self._artifacts:
            keep = frozenset() if put is None else put.digests
            artifacts = self._artifact_keys(key)
            for stale in [k for k in artifacts if _artifact_digest(key, k) not in keep]:
                self.batch.delete(stale, self._h_artifacts)
                artifacts.discard(stale)
        if put is None:
            if previous is not None or key in self._revisions:
                revisions = self._revision_keys(key)
                for stored in revisions:
                    self.batch.delete(stored, modules)
                revisions.clear()
            self.batch.delete(META + key, modules)
            self.batch.delete(WASM + key, modules)
            self.batch.delete(key, self._h_usage)
            self._usage[key] = 0
            self._modules[key] = None
            return
        self.batch.put(META + key, put.meta, modules)
        self.batch.put(WASM + key, put.wasm, modules)
        self.values_written += 1
        self.batch.put(self._index(put.namespace) + key, b"", modules)
        if is_addressable_name(put.name):
            new_name = name_key(put.namespace, put.name)
            if self._name_holder(new_name) is None:
                self.batch.put(new_name, key, modules)
                self._names[new_name] = key
        self._modules[key] = (put.namespace, put.name, put.digest, put.digests)

    def _revision(self, staged: StagedRevision) -> None:
        key = staged.key
        meta_key = revision_key(REVISION_META, key, staged.revision)
        wasm_key = revision_key(REVISION_WASM, key, staged.revision)
        if staged.put is None:
            self.batch.delete(meta_key, self._h_modules)
            self.batch.delete(wasm_key, self._h_modules)
            if key in self._revisions:
                self._revisions[key].difference_update((meta_key, wasm_key))
            return
        if self._current(key) is None:
            return  # a revision of a module that is gone: dropped, never orphaned
        self.batch.put(meta_key, staged.put[0], self._h_modules)
        self.batch.put(wasm_key, staged.put[1], self._h_modules)
        self.values_written += 1
        self._revisions.setdefault(key, set()).update((meta_key, wasm_key))

    def _name_holder(self, key: bytes) -> bytes | None:
        if key not in self._names:
            self._names[key] = self._modules_cf.get(key)
        return self._names[key]

    def _revision_keys(self, key: bytes) -> set[bytes]:
        found = self._revisions.setdefault(key, set())
        for kind in (REVISION_META, REVISION_WASM):
            found.update(scan_keys(self._modules_cf, revision_prefix(kind, key)))
        return found

    def _index(self, namespace: str) -> bytes:
        prefix = self._prefixes.get(namespace)
        if prefix is None:
            prefix = self._prefixes[namespace] = index_prefix(namespace)
        return prefix

    def _current(self, key: bytes) -> ModuleState | None:
        if key not in self._modules:
            meta = self._modules_cf.get(META + key)
            self._modules[key] = None if meta is None else state_of(decode_info(meta))
        return self._modules[key]

    def _artifact_keys(self, key: bytes) -> set[bytes]:
        if key not in self._artifacts:
            prefix = artifact_prefix(key)
            self._artifacts[key] = set(scan_keys(self._artifacts_cf, prefix))
        return self._artifacts[key]

    def _count(self, key: bytes) -> int:
        if key not in self._usage:
            stored = self._usage_cf.get(key)
            self._usage[key] = 0 if stored is None else int.from_bytes(stored, "big")
        return self._usage[key]


def _artifact_digest(key: bytes, stored_key: bytes) -> str:
    return stored_key[len(artifact_prefix(key)) :].split(SEPARATOR, 1)[0].decode()
