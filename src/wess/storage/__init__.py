"""Module storage: the ``ModuleRepository`` Protocol and the one factory that picks a backend.

The backend comes from the URL scheme, through ``BACKENDS`` and nowhere else; only this
module imports the concrete backends, and only when their scheme is asked for.

    memory://                       MemoryRepository (nothing durable)
    rocksdb:///var/lib/wess/db      RocksRepository at an absolute path
    rocksdb:data/db                 RocksRepository at a path relative to the working dir
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from urllib.parse import SplitResult, unquote, urlsplit

from wess.errors import ConfigError
from wess.storage.base import (
    AddUsage,
    Change,
    ModuleRepository,
    PutArtifact,
    PutModule,
    RemoveModule,
)

__all__ = [
    "BACKENDS",
    "AddUsage",
    "Change",
    "ModuleRepository",
    "PutArtifact",
    "PutModule",
    "RemoveModule",
    "open_repository",
]


async def _open_memory(url: SplitResult) -> ModuleRepository:
    from wess.storage.memory import MemoryRepository

    if url.netloc or url.path not in ("", "/"):
        raise ConfigError(f"memory:// takes no location, got {url.geturl()!r}")
    return MemoryRepository()


async def _open_rocksdb(url: SplitResult) -> ModuleRepository:
    from wess.storage.rocks import RocksRepository

    if url.netloc or not url.path or url.query or url.fragment:
        raise ConfigError(
            f"a RocksDB URL names a directory: rocksdb:///absolute/path or "
            f"rocksdb:relative/path, got {url.geturl()!r}"
        )
    return await RocksRepository.open(unquote(url.path))


Opener = Callable[[SplitResult], Awaitable[ModuleRepository]]

BACKENDS: Mapping[str, Opener] = {
    "memory": _open_memory,
    "rocksdb": _open_rocksdb,
}
"""URL scheme -> opener. A new backend is one line here and one function above."""


@contextlib.asynccontextmanager
async def open_repository(url: str) -> AsyncIterator[ModuleRepository]:
    """Open the repository ``url`` names for the ``async with`` block, then close it.

    Raises ``ConfigError`` for a scheme with no backend or a malformed location.
    """
    parsed = urlsplit(url)
    opener = BACKENDS.get(parsed.scheme)
    if opener is None:
        allowed = ", ".join(f"{scheme}:" for scheme in sorted(BACKENDS))
        raise ConfigError(
            f"unknown storage scheme {parsed.scheme!r} in {url!r}; use one of: {allowed}"
        )
    repository = await opener(parsed)
    try:
        yield repository
    finally:
        await repository.aclose()
