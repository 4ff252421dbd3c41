"""CountingRepository: a real repository wrapped to count calls (the only test double).

It can also hold ``get`` after the inner read returned, to open a race window on
purpose, and fail ``commit`` with a given storage error.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from uuid import UUID

from wess.errors import StorageError
from wess.models import ModuleInfo, ModuleRecord, SealedArtifact
from wess.storage import Change, ModuleRepository
from wess.storage.base import UsageRanking


class CountingRepository:
    """Delegates every call to ``inner`` and counts it in ``calls``."""

    def __init__(self, inner: ModuleRepository) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.commit_sizes: list[int] = []
        self.commit_error: StorageError | None = None
        self.hold_gets: asyncio.Event | None = None
        self.get_read = asyncio.Event()  # set once a held get has read from the store

    async def get(self, module_id: UUID) -> ModuleRecord | None:
        self.calls["get"] += 1
        record = await self.inner.get(module_id)
        if self.hold_gets is not None:
            self.get_read.set()
            await self.hold_gets.wait()
        return record

    async def get_info(self, module_id: UUID) -> ModuleInfo | None:
        self.calls["get_info"] += 1
        return await self.inner.get_info(module_id)

    async def list(
        self, *, namespace: str | None, after: UUID | None, limit: int
    ) -> list[ModuleInfo]:
        self.calls["list"] += 1
        return await self.inner.list(namespace=namespace, after=after, limit=limit)

    async def count(self, *, namespace: str | None = None) -> int:
        self.calls["count"] += 1
        return await self.inner.count(namespace=namespace)

    async def get_artifact(
        self, module_id: UUID, *, digest: str, flavor: str
    ) -> SealedArtifact | None:
        self.calls["get_artifact"] += 1
        return await self.inner.get_artifact(module_id, digest=digest, flavor=flavor)

    async def most_used(self, limit: int) -> UsageRanking:
        self.calls["most_used"] += 1
        return await self.inner.most_used(limit)

    async def commit(self, changes: Sequence[Change]) -> None:
        self.calls["commit"] += 1
        self.commit_sizes.append(len(changes))
        if self.commit_error is not None:
            raise self.commit_error
        await self.inner.commit(changes)

    async def ping(self) -> None:
        self.calls["ping"] += 1
        await self.inner.ping()

    async def aclose(self) -> None:
        self.calls["aclose"] += 1
        await self.inner.aclose()
