"""``RocksStore``: everything Wess stores, in an embedded RocksDB directory.

Keys and values are plain bytes, laid out as ``layout`` describes. Each concept has its
own reader (``RocksModules``, ``RocksApiKeys``, ``RocksAudit``, ``RocksUsage``,
``RocksAdmin``) over the one shared ``RocksDatabase``; every commit is ONE synced
``WriteBatch`` built by ``batch``, so a crash leaves either all of its changes or none.

With a ``Keyring``, module bytes and artifacts are sealed before they are written and
opened when read (``sealing``); the first sealed value records ``~sealed``, and a store
holding that marker refuses to open without a keyring. Values stored in plain text
before stay readable until ``admin.rewrap`` seals them.

A ``transact`` runs the Writer's reads for a batch and its commit in one call on the
write thread. rocksdict holds the GIL through a write, sync included, so a hop frees
the event loop for nothing while a batch commits, and costs ~50-100 us: one per batch,
not one per read.
"""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from wess.errors import ConfigError, StorageUnavailable
from wess.models import ApiKey, AuditEntry, ModuleInfo
from wess.security.crypto import Keyring
from wess.storage.base import Change, Transaction
from wess.storage.events import PublishEvent
from wess.storage.modules import NamespaceUsage
from wess.storage.nodes import LocalNodes
from wess.storage.rocks.admin import RocksAdmin
from wess.storage.rocks.audit import RocksAudit
from wess.storage.rocks.batch import BatchBuilder, ModuleStates, stage
from wess.storage.rocks.database import (
    UNLIMITED_OPEN_FILES,
    RocksDatabase,
    close,
    open_database,
    read_format,
    system_format,
)
from wess.storage.rocks.invocations import RocksInvocations
from wess.storage.rocks.keys import RocksApiKeys
from wess.storage.rocks.kv import RocksKv
from wess.storage.rocks.layout import FORMAT, SEALED_KEY, SYSTEM
from wess.storage.rocks.migrations import check_format
from wess.storage.rocks.modules import RocksModules
from wess.storage.rocks.usage import RocksUsage
from wess.storage.sealing import ENCRYPTED_STORE, MARKER


class RocksStore:
    """A ``Store`` in a RocksDB directory. Build it with ``await RocksStore.open(path)``."""

    def __init__(self, database: RocksDatabase) -> None:
        self._d = database
        self._modules = RocksModules(database)
        self._keys = RocksApiKeys(database)
        self._audit = RocksAudit(database)
        self._usage = RocksUsage(database)
        self._admin = RocksAdmin(database)
        self._nodes = LocalNodes()
        self._invocations = RocksInvocations(database)
        self._kv = RocksKv(database)

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        keyring: Keyring | None = None,
        max_open_files: int = UNLIMITED_OPEN_FILES,
        read_only: bool = False,
    ) -> RocksStore:
        """Open (or create) the store at ``path``, sealing values with ``keyring`` if given.

        ``StorageUnavailable`` if it is damaged; ``ConfigError`` if it holds sealed
        values and no keyring is given. ``max_open_files`` goes to RocksDB as is.
        ``read_only`` opens an existing store and writes nothing to its directory (a
        backup); every commit then fails.
        """
        location = str(Path(path))
        db = await asyncio.to_thread(
            open_database, location, max_open_files=max_open_files, read_only=read_only
        )
        try:
            found = await asyncio.to_thread(read_format, db, location, read_only=read_only)
            check_format(found, location)
            database = RocksDatabase(db, location, keyring=keyring)
        except BaseException:
            close(db)
            raise
        if keyring is None and database.marked:
            await database.aclose()
            raise ConfigError(f"{location}: {ENCRYPTED_STORE}", path=location)
        return cls(database)

    @property
    def path(self) -> str:
        return self._d.path

    @property
    def modules(self) -> RocksModules:
        return self._modules

    @property
    def keys(self) -> RocksApiKeys:
        return self._keys

    @property
    def audit(self) -> RocksAudit:
        return self._audit

    @property
    def usage(self) -> RocksUsage:
        return self._usage

    @property
    def nodes(self) -> LocalNodes:
        return self._nodes

    @property
    def invocations(self) -> RocksInvocations:
        return self._invocations

    @property
    def kv(self) -> RocksKv:
        return self._kv

    @property
    def admin(self) -> RocksAdmin:
        return self._admin

    async def commit(self, changes: Sequence[Change]) -> None:
        """Apply every change in one synced write batch; return once it is on disk."""
        await self._d.write(self._commit, builtins.list(changes))

    async def transact(self, work: Transaction) -> None:
        """Run ``work`` and commit what it answers on the write thread: one hop, and no
        other commit can come in between its reads and its commit."""
        await self._d.write(self._transact, work)

    def feed(self) -> None:
        """None: one process owns a RocksDB directory."""
        return None

    async def ping(self) -> None:
        """Read the format marker: a cheap, real read."""
        await self._d.read(self._ping)

    async def aclose(self) -> None:
        """Wait for running calls, then close the database."""
        await self._d.aclose()

    def _commit(self, changes: builtins.list[Change], *, known: ModuleStates | None = None) -> None:
        d = self._d
        builder = BatchBuilder(d.family, d.handle, known=known)
        for change in changes:
            if not isinstance(change, PublishEvent):  # one process owns this store
                builder.add(stage(change, d.keyring))
        marking = d.keyring is not None and builder.values_written > 0 and not d.marked
        if marking:
            builder.batch.put(SEALED_KEY, MARKER, d.handle[SYSTEM])
        if len(builder.batch):
            d.db.write(builder.batch, d.sync)
            d.marked = d.marked or marking

    def _transact(self, work: Transaction) -> None:
        view = _RocksView(self._d, self._modules, self._keys, self._audit)
        changes = builtins.list(work(view))
        # Same thread, no write in between: what the view read is what the batch finds.
        self._commit(changes, known=view.known)

    def _ping(self) -> None:
        if system_format(self._d.family[SYSTEM], self._d.path) != FORMAT:
            raise StorageUnavailable(f"RocksDB store at {self._d.path} lost its format marker")


class _RocksView:
    """The ``StoreView`` of one transaction, read on the write thread: blocking reads,
    translated as the async ones are. ``known`` keeps what it found of each module,
    which the commit then need not read again."""

    def __init__(
        self,
        database: RocksDatabase,
        modules: RocksModules,
        keys: RocksApiKeys,
        audit: RocksAudit,
    ) -> None:
        self._d = database
        self._modules = modules
        self._keys = keys
        self._audit = audit
        self.known: ModuleStates = {}

    def get_infos(self, module_ids: Sequence[UUID]) -> dict[UUID, ModuleInfo | None]:
        return self._d.translated(lambda: self._modules.get_infos(module_ids, self.known))

    def get_api_key(self, key_id: str) -> ApiKey | None:
        return self._d.translated(lambda: self._keys.get_now(key_id))

    def find_names(self, names: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UUID | None]:
        return self._d.translated(lambda: self._modules.find_names(names))

    def namespace_usage(self, namespaces: Sequence[str]) -> NamespaceUsage:
        return self._d.translated(lambda: self._modules.usage_of(namespaces))

    def audit_head(self) -> AuditEntry | None:
        return self._d.translated(self._audit.head_now)
