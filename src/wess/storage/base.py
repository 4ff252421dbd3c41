"""The ``Store``: one store per concept, and the one atomic ``commit`` they share.

Nothing above this module may assume a particular backend. Reads go through the
concept stores (``modules``, ``keys``, ``audit``, ``usage``) and ``admin``; every
write is a sequence of ``Change`` values applied in one atomic, durable ``commit``,
so a module write and its audit entry land together or not at all. The Writer batches
concurrent jobs into one commit (group commit); ``transact`` lets it read what a batch
needs and commit it in one step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable
from uuid import UUID

from wess.models import ApiKey, AuditEntry, ModuleInfo
from wess.storage.admin import StoreAdmin
from wess.storage.audit import AuditChange, AuditStore
from wess.storage.events import ChangeFeed, PublishEvent
from wess.storage.invocations import InvocationStore
from wess.storage.keys import ApiKeyStore, KeyChange
from wess.storage.kv import KvStore
from wess.storage.modules import ModuleChange, ModuleStore, NamespaceUsage
from wess.storage.nodes import NodeStore
from wess.storage.usage import AddUsage, UsageStore

Change = ModuleChange | KeyChange | AuditChange | AddUsage | PublishEvent
"""Every kind of change a commit applies."""


class StoreView(Protocol):
    """The store as a ``transact`` call finds it: blocking reads, made on the thread the
    transaction runs on, and translated to Wess errors like the async ones."""

    def get_infos(self, module_ids: Sequence[UUID]) -> dict[UUID, ModuleInfo | None]:
        """The metadata of each of ``module_ids`` (None: absent), read at one point."""
        ...

    def get_api_key(self, key_id: str) -> ApiKey | None: ...

    def find_names(self, names: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UUID | None]:
        """The module holding each (namespace, name) of ``names`` (None: free)."""
        ...

    def namespace_usage(self, namespaces: Sequence[str]) -> NamespaceUsage:
        """Modules and wasm bytes of each of ``namespaces`` (absent: none), as this
        transaction sees them: quotas checked where several nodes write."""
        ...

    def audit_head(self) -> AuditEntry | None:
        """The last audit entry, as this transaction sees it: what the batch's entries
        chain after (with several nodes, another node may have moved it)."""
        ...


Transaction = Callable[[StoreView], Sequence[Change]]
"""Reads what it needs from the view and answers the changes to commit. It runs on the
storage's own thread (RocksDB) while the event loop goes on: it must not block, and may
touch only what nothing else changes meanwhile."""


@runtime_checkable
class Store(Protocol):
    """A place that keeps what Wess stores. Implementations: memory, rocksdb.

    Backend outages raise ``StorageUnavailable``; every call after ``aclose`` too.
    """

    @property
    def modules(self) -> ModuleStore: ...

    @property
    def keys(self) -> ApiKeyStore: ...

    @property
    def audit(self) -> AuditStore: ...

    @property
    def usage(self) -> UsageStore: ...

    @property
    def admin(self) -> StoreAdmin: ...

    @property
    def nodes(self) -> NodeStore: ...

    @property
    def invocations(self) -> InvocationStore: ...

    @property
    def kv(self) -> KvStore: ...

    async def commit(self, changes: Sequence[Change]) -> None:
        """Apply every change atomically, in order (later changes see earlier ones);
        return once they are durable. A change that cannot be applied (``ValueError``)
        fails the whole commit before anything is written."""
        ...

    async def transact(self, work: Transaction) -> None:
        """Call ``work`` with a view of the store, then commit the changes it answers as
        ``commit`` does, with no other commit in between: the Writer's reads for a whole
        batch and its commit in one step (for RocksDB, one thread hop instead of two).
        Whatever ``work`` raises propagates, and nothing is committed."""
        ...

    def feed(self) -> ChangeFeed | None:
        """What other nodes sharing the store change; None for a store one process owns."""
        ...

    async def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the store can serve reads and writes."""
        ...

    async def aclose(self) -> None:
        """Release the store; later calls raise ``StorageUnavailable``."""
        ...
