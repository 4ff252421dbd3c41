"""The key-value store: the guests' ``wess:kv@1`` state, one keyspace per namespace.

Keys are text (UTF-8, no control characters), values bytes. Each namespace's bytes
(every key's and value's length, summed) are counted as they change, so a ``put`` that
would take a namespace past its quota is refused (``QuotaExceeded``) in the same atomic
step that would have written it. Like invocations, these are small atomic operations
of this store, durable when they return, outside the Writer's group commit: a guest's
``set`` waits for its own commit, and the store serialises them (one write thread for
memory and RocksDB, a lock on the namespace's usage row for PostgreSQL).
"""

from __future__ import annotations

import builtins
from typing import Protocol, runtime_checkable

from wess.errors import QuotaExceeded


@runtime_checkable
class KvStore(Protocol):
    async def get(self, namespace: str, key: str) -> bytes | None: ...

    async def put(self, namespace: str, key: str, value: bytes, *, quota: int) -> None:
        """Store ``value`` under ``key``; ``QuotaExceeded`` (nothing written) when the
        namespace's bytes would pass ``quota``."""
        ...

    async def delete(self, namespace: str, key: str) -> bool:
        """Remove ``key``; whether it had a value."""
        ...

    async def list(
        self, namespace: str, *, prefix: str = "", after: str | None = None, limit: int
    ) -> builtins.list[str]:
        """Up to ``limit`` keys starting with ``prefix``, after ``after``, in byte order."""
        ...

    async def usage(self, namespace: str) -> int:
        """The namespace's bytes: every key's and value's length, summed."""
        ...


def entry_size(key: str, value: bytes) -> int:
    """What one entry counts against its namespace's quota."""
    return len(key.encode()) + len(value)


def over_quota(namespace: str, used: int, quota: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"namespace {namespace!r} would hold {used} bytes of key-value state; its quota "
        f"is {quota} bytes (kv.max_namespace_bytes)",
        limit=quota,
    )


class MemoryKv:
    """The ``KvStore`` of a memory store: a dict per namespace."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, bytes]] = {}
        self._used: dict[str, int] = {}

    async def get(self, namespace: str, key: str) -> bytes | None:
        return self._data.get(namespace, {}).get(key)

    async def put(self, namespace: str, key: str, value: bytes, *, quota: int) -> None:
        entries = self._data.setdefault(namespace, {})
        previous = entries.get(key)
        used = self._used.get(namespace, 0) + entry_size(key, value)
        if previous is not None:
            used -= entry_size(key, previous)
        if used > quota:
            raise over_quota(namespace, used, quota)
        entries[key] = bytes(value)
        self._used[namespace] = used

    async def delete(self, namespace: str, key: str) -> bool:
        previous = self._data.get(namespace, {}).pop(key, None)
        if previous is None:
            return False
        self._used[namespace] -= entry_size(key, previous)
        return True

    async def list(
        self, namespace: str, *, prefix: str = "", after: str | None = None, limit: int
    ) -> builtins.list[str]:
        keys = sorted(
            (k for k in self._data.get(namespace, {}) if k.startswith(prefix)),
            key=lambda k: k.encode(),
        )
        if after is not None:
            keys = [k for k in keys if k.encode() > after.encode()]
        return keys[:limit]

    async def usage(self, namespace: str) -> int:
        return self._used.get(namespace, 0)
