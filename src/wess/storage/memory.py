"""``MemoryRepository``: the in-memory ``ModuleRepository`` that tests and embeddings use.

It keeps the same stored form as the RocksDB backend (encoded records beside the raw
bytes) so that a record that would not survive encoding, or bytes that do not match
their digest, fail here exactly as they would on disk. Nothing is durable.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from functools import partial
from uuid import UUID

from wess.errors import StorageUnavailable
from wess.models import ModuleInfo, ModuleRecord, SealedArtifact
from wess.storage.base import (
    AddUsage,
    Change,
    PutArtifact,
    PutModule,
    RemoveModule,
    UsageRanking,
)
from wess.storage.records import decode_info, encode_info, verified_wasm

Stored = tuple[bytes, bytes]
"""A module as stored: encoded metadata and bytes."""


class MemoryRepository:
    """Modules in a dict; every commit is applied all at once or not at all."""

    def __init__(self) -> None:
        self._records: dict[str, Stored] = {}
        self._order: list[str] = []  # ids as strings, sorted: the listing order
        self._artifacts: dict[str, dict[tuple[str, str], bytes]] = {}  # id -> (digest, flavor)
        self._usage: dict[str, int] = {}
        self._closed = False

    async def get(self, module_id: UUID) -> ModuleRecord | None:
        """The module with its verified bytes, or None."""
        self._check_open()
        stored = self._records.get(str(module_id))
        if stored is None:
            return None
        info = decode_info(stored[0])
        return ModuleRecord(info=info, wasm=verified_wasm(info, stored[1]))

    async def get_info(self, module_id: UUID) -> ModuleInfo | None:
        """The module's metadata, or None."""
        self._check_open()
        stored = self._records.get(str(module_id))
        return None if stored is None else decode_info(stored[0])

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
        data = self._artifacts.get(str(module_id), {}).get((digest, flavor))
        return None if data is None else SealedArtifact(digest=digest, flavor=flavor, data=data)

    async def most_used(self, limit: int) -> UsageRanking:
        """Up to ``limit`` (module id, invocation count) pairs, most invoked first."""
        self._check_open()
        ranked = sorted(self._usage.items(), key=lambda item: (-item[1], item[0]))
        return [(UUID(key), count) for key, count in ranked[:limit]]

    async def commit(self, changes: Sequence[Change]) -> None:
        """Apply every change at once: all are encoded before any is applied."""
        self._check_open()
        staged: list[Callable[[], None]] = []  # applying cannot fail: all checks come first
        for change in changes:
            if isinstance(change, PutModule):
                record = change.record
                stored = (encode_info(record.info), bytes(record.wasm))
                staged.append(partial(self._apply, str(record.id), stored))
            elif isinstance(change, RemoveModule):
                staged.append(partial(self._apply, str(change.module_id), None))
            elif isinstance(change, PutArtifact):
                staged.append(partial(self._put_artifact, change))
            elif isinstance(change, AddUsage):
                if any(count < 0 for _, count in change.counts):
                    raise ValueError("usage counts only grow")
                staged.append(partial(self._add_usage, change))
            else:
                raise TypeError(f"unknown change {change!r}")
        for apply in staged:
            apply()

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

    def _put_artifact(self, change: PutArtifact) -> None:
        stored = self._records.get(str(change.module_id))
        artifact = change.artifact
        if stored is not None and decode_info(stored[0]).digest == artifact.digest:
            artifacts = self._artifacts.setdefault(str(change.module_id), {})
            artifacts[(artifact.digest, artifact.flavor)] = bytes(artifact.data)

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
