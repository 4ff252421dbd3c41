"""CountingRepository: a real repository wrapped to count calls (the only test double).

It can also hold ``get`` after the inner read returned, to open a race window on
purpose, fail ``commit`` with a given storage error (before the inner commit, or after
it, as when the disk took the write but the answer was lost), fail a transaction's
reads of given modules, and hold ``rewrap`` until told.
"""

from __future__ import annotations

import asyncio
import builtins
from collections import Counter
from collections.abc import Sequence
from uuid import UUID

from wess.errors import StorageError
from wess.models import ModuleInfo, ModuleRecord, SealedArtifact
from wess.security.audit import AuditEntry
from wess.security.crypto import Keyring
from wess.security.tokens import ApiKey
from wess.storage import Change, ModuleRepository
from wess.storage.base import NamespaceUsage, StoreView, Transaction, UsageRanking


class CountingRepository:
    """Delegates every call to ``inner`` and counts it in ``calls``."""

    def __init__(self, inner: ModuleRepository) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.commit_sizes: list[int] = []
        self.commit_error: StorageError | None = None
        self.error_after_commit: StorageError | None = None
        self.hold_gets: asyncio.Event | None = None
        self.get_read = asyncio.Event()  # set once a held get has read from the store
        self.hold_rewrap: asyncio.Event | None = None
        self.rewrap_started = asyncio.Event()
        # every commit that reached the inner store
        self.committed: builtins.list[builtins.list[Change]] = []
        # module ids a transaction's view fails to read, with the error it raises
        self.unreadable: dict[UUID, StorageError] = {}

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

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        self.calls["get_api_key"] += 1
        return await self.inner.get_api_key(key_id)

    async def list_api_keys(self) -> builtins.list[ApiKey]:
        self.calls["list_api_keys"] += 1
        return await self.inner.list_api_keys()

    async def audit_head(self) -> AuditEntry | None:
        self.calls["audit_head"] += 1
        return await self.inner.audit_head()

    async def list_audit(self, *, after: int, limit: int) -> builtins.list[AuditEntry]:
        self.calls["list_audit"] += 1
        return await self.inner.list_audit(after=after, limit=limit)

    async def namespace_usage(self) -> NamespaceUsage:
        self.calls["namespace_usage"] += 1
        return await self.inner.namespace_usage()

    async def rewrap(self, keyring: Keyring) -> int:
        self.calls["rewrap"] += 1
        self.rewrap_started.set()
        if self.hold_rewrap is not None:
            await self.hold_rewrap.wait()
        return await self.inner.rewrap(keyring)

    async def commit(self, changes: Sequence[Change]) -> None:
        self.calls["commit"] += 1
        self.commit_sizes.append(len(changes))
        if self.commit_error is not None:
            raise self.commit_error
        await self.inner.commit(changes)
        self.committed.append(list(changes))
        if self.error_after_commit is not None:
            raise self.error_after_commit

    async def transact(self, work: Transaction) -> None:
        """Counted as ``transact``, and as a ``commit`` of what ``work`` answers (none
        when it answers nothing); the commit errors apply to it as to ``commit``."""
        self.calls["transact"] += 1
        changes: builtins.list[Change] = []

        def counted(view: StoreView) -> builtins.list[Change]:
            changes.extend(work(_FailingView(view, self.unreadable)))
            if changes:
                self.calls["commit"] += 1
                self.commit_sizes.append(len(changes))
                if self.commit_error is not None:
                    raise self.commit_error
            return changes

        await self.inner.transact(counted)
        if changes:
            self.committed.append(changes)
            if self.error_after_commit is not None:
                raise self.error_after_commit

    async def ping(self) -> None:
        self.calls["ping"] += 1
        await self.inner.ping()

    async def aclose(self) -> None:
        self.calls["aclose"] += 1
        await self.inner.aclose()


class _FailingView:
    """A transaction's view that fails to read the modules in ``unreadable``."""

    def __init__(self, view: StoreView, unreadable: dict[UUID, StorageError]) -> None:
        self._view = view
        self._unreadable = unreadable

    def get_infos(self, module_ids: Sequence[UUID]) -> dict[UUID, ModuleInfo | None]:
        for module_id in module_ids:
            if module_id in self._unreadable:
                raise self._unreadable[module_id]
        return self._view.get_infos(module_ids)

    def get_api_key(self, key_id: str) -> ApiKey | None:
        return self._view.get_api_key(key_id)
