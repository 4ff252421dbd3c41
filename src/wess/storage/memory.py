"""``MemoryRepository``: the in-memory ``ModuleRepository`` that tests and embeddings use.

It keeps the same stored form as the RocksDB backend (encoded records beside the raw
bytes) so that a record that would not survive encoding, or bytes that do not match
their digest, fail here exactly as they would on disk. Nothing is durable.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from uuid import UUID

from wess.errors import StorageUnavailable
from wess.models import ModuleInfo, ModuleRecord
from wess.storage.base import Change, PutModule, RemoveModule
from wess.storage.records import decode_info, encode_info, verified_wasm


class MemoryRepository:
    """Modules in a dict; every commit is applied all at once or not at all."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[bytes, bytes]] = {}
        self._order: list[str] = []  # ids as strings, sorted: the listing order
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

    async def commit(self, changes: Sequence[Change]) -> None:
        """Apply every change at once: all are encoded before any is applied."""
        self._check_open()
        staged: list[tuple[str, tuple[bytes, bytes] | None]] = []
        for change in changes:
            if isinstance(change, PutModule):
                record = change.record
                staged.append((str(record.id), (encode_info(record.info), bytes(record.wasm))))
            elif isinstance(change, RemoveModule):
                staged.append((str(change.module_id), None))
            else:
                raise TypeError(f"unknown change {change!r}")
        for key, stored in staged:
            self._apply(key, stored)

    async def ping(self) -> None:
        """Raise ``StorageUnavailable`` once closed."""
        self._check_open()

    async def aclose(self) -> None:
        """Drop everything; later calls raise ``StorageUnavailable``."""
        self._closed = True
        self._records.clear()
        self._order.clear()

    def _apply(self, key: str, stored: tuple[bytes, bytes] | None) -> None:
        present = key in self._records
        if stored is None:
            if present:
                del self._records[key]
                self._order.pop(bisect.bisect_left(self._order, key))
            return
        if not present:
            bisect.insort(self._order, key)
        self._records[key] = stored

    def _check_open(self) -> None:
        if self._closed:
            raise StorageUnavailable("the in-memory module store is closed")
