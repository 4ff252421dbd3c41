"""Storage: the ``Store`` Protocol, its concept stores, and the one factory that picks a backend.

The backend comes from the URL scheme, through ``BACKENDS`` and nowhere else; only this
module imports the concrete backends, and only when their scheme is asked for.

    memory://                       MemoryStore (nothing durable)
    rocksdb:///var/lib/wess/db      RocksStore at an absolute path
    rocksdb:data/db                 RocksStore at a path relative to the working dir
    rocksdb:data/db?max_open_files=1000   ... keeping at most 1000 table files open
    postgresql://host/db?schema=wess      PostgresStore in that database and schema

``open_store(url, keyring=...)`` seals module bytes and artifacts at rest under the
keyring's current KEK (``sealing``); a RocksDB store that holds sealed values refuses
to open without one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from wess.errors import ConfigError
from wess.security.crypto import Keyring
from wess.storage.admin import StoreAdmin
from wess.storage.audit import AppendAudit, AuditStore, RewriteAudit
from wess.storage.base import Change, Store, StoreView, Transaction
from wess.storage.events import ChangeFeed, Event, PublishEvent
from wess.storage.keys import ApiKeyStore, PutApiKey, RemoveApiKey
from wess.storage.modules import (
    ModuleStore,
    NamespaceUsage,
    PutArtifact,
    PutModule,
    PutModuleInfo,
    PutRevision,
    RemoveModule,
    RemoveRevision,
)
from wess.storage.nodes import NodeStore
from wess.storage.usage import AddUsage, UsageRanking, UsageStore

__all__ = [
    "BACKENDS",
    "AddUsage",
    "ApiKeyStore",
    "AppendAudit",
    "AuditStore",
    "Change",
    "ChangeFeed",
    "Event",
    "ModuleStore",
    "NamespaceUsage",
    "NodeStore",
    "PublishEvent",
    "PutApiKey",
    "PutArtifact",
    "PutModule",
    "PutModuleInfo",
    "PutRevision",
    "RemoveApiKey",
    "RemoveModule",
    "RemoveRevision",
    "RewriteAudit",
    "Store",
    "StoreAdmin",
    "StoreView",
    "Transaction",
    "UsageRanking",
    "UsageStore",
    "open_store",
]


async def _open_memory(url: SplitResult, keyring: Keyring | None, read_only: bool) -> Store:
    from wess.storage.memory import MemoryStore

    if url.netloc or url.path not in ("", "/"):
        raise ConfigError(f"memory:// takes no location, got {url.geturl()!r}")
    return MemoryStore(keyring=keyring)


async def _open_rocksdb(url: SplitResult, keyring: Keyring | None, read_only: bool) -> Store:
    from wess.storage.rocks import UNLIMITED_OPEN_FILES, RocksStore

    if url.netloc or not url.path or url.fragment:
        raise ConfigError(
            f"a RocksDB URL names a directory: rocksdb:///absolute/path or "
            f"rocksdb:relative/path, got {url.geturl()!r}"
        )
    options = _rocksdb_options(url)
    max_open_files = options.get("max_open_files", UNLIMITED_OPEN_FILES)
    return await RocksStore.open(
        unquote(url.path), keyring=keyring, max_open_files=max_open_files, read_only=read_only
    )


def _rocksdb_options(url: SplitResult) -> dict[str, int]:
    """The options a RocksDB URL may carry in its query: ``?max_open_files=N``."""
    options: dict[str, int] = {}
    for name, values in parse_qs(url.query, keep_blank_values=True, strict_parsing=False).items():
        if name != "max_open_files" or len(values) != 1 or not values[0].lstrip("-").isdigit():
            raise ConfigError(
                f"a RocksDB URL takes one option, ?max_open_files=<whole number>, "
                f"got {url.geturl()!r}"
            )
        options[name] = int(values[0])
    return options


async def _open_postgres(url: SplitResult, keyring: Keyring | None, read_only: bool) -> Store:
    from wess.storage.postgres import PostgresStore

    return await PostgresStore.open(url.geturl(), keyring=keyring, read_only=read_only)


Opener = Callable[[SplitResult, Keyring | None, bool], Awaitable[Store]]
"""``opener(url, keyring, read_only)``."""

BACKENDS: Mapping[str, Opener] = {
    "memory": _open_memory,
    "rocksdb": _open_rocksdb,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
}
"""URL scheme -> opener. A new backend is one line here and one function above."""


@contextlib.asynccontextmanager
async def open_store(
    url: str, *, keyring: Keyring | None = None, read_only: bool = False
) -> AsyncIterator[Store]:
    """Open the store ``url`` names for the ``async with`` block, then close it.

    ``keyring`` seals module bytes and artifacts at rest (None: stored in plain text).
    ``read_only`` opens an existing store without writing anything to it (a backup);
    a memory store, which nothing else holds, ignores it.
    Raises ``ConfigError`` for a scheme with no backend, a malformed location, or an
    encrypted store opened without a keyring.
    """
    parsed = urlsplit(url)
    opener = BACKENDS.get(parsed.scheme)
    if opener is None:
        allowed = ", ".join(f"{scheme}:" for scheme in sorted(BACKENDS))
        raise ConfigError(
            f"unknown storage scheme {parsed.scheme!r} in {url!r}; use one of: {allowed}"
        )
    store = await opener(parsed, keyring, read_only)
    try:
        yield store
    finally:
        await store.aclose()
