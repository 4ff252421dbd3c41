"""``RocksRepository``: modules in an embedded RocksDB (rocksdict, raw mode, never pickle).

Keys and values are plain bytes, laid out as ``rocks_layout`` describes. A module's
metadata, bytes, index entry, artifacts and usage count change in ONE synced
``WriteBatch``, so a crash leaves either all of them or none. Metadata lives apart
from bytes, so ``get_info``, ``list`` and ``count`` never read wasm. The WAL is
replayed with ``absolute_consistency``: a damaged log makes open fail rather than
silently drop acknowledged writes (the default, point-in-time recovery, stops at the
damage).

With a ``Keyring``, module bytes and artifacts are sealed before they are written and
opened when read (``sealing``); the first sealed value records ``~sealed``, and a store
holding that marker refuses to open without a keyring. Values stored in plain text
before stay readable until ``rewrap`` seals them.

rocksdict calls block, so reads run on a small thread pool and commits (and rewraps)
on one thread of their own (commits read what they change, so they must not
interleave). A ``transact`` runs the Writer's reads for a batch and its commit in one
call on that thread. rocksdict holds the GIL through a write, sync included, so a hop
frees the event loop for nothing while a batch commits, and costs ~50-100 us: one per
batch, not one per read.
"""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from rocksdict import (
    BlockBasedOptions,
    DbClosedError,
    DBRecoveryMode,
    Options,
    Rdict,
    WriteOptions,
)

from wess.errors import ConfigError, IntegrityError, StorageError, StorageUnavailable
from wess.models import ModuleInfo, ModuleRecord, SealedArtifact
from wess.security.audit import AuditEntry
from wess.security.crypto import Keyring
from wess.security.tokens import ApiKey
from wess.storage.base import Change, NamespaceUsage, Transaction, UsageRanking
from wess.storage.records import decode_api_key, decode_audit, decode_info, verified_wasm
from wess.storage.rocks_layout import (
    API_KEY,
    AUDIT,
    FORMAT,
    FORMAT_KEY,
    META,
    SEALED_KEY,
    SEQ_BYTES,
    USAGE,
    WASM,
    BatchBuilder,
    ModuleStates,
    api_key_key,
    artifact_key,
    audit_key,
    index_prefix,
    scan,
    stage,
)
from wess.storage.rocks_layout import module_key as _id
from wess.storage.rocks_rotation import check_keyring, rewrap_values
from wess.storage.sealing import ENCRYPTED_STORE, MARKER, artifact_aad, unseal, wasm_aad

T = TypeVar("T")

READ_THREADS = 4
BLOOM_BITS_PER_KEY = 10  # ~1% false positives, ~1.25 bytes per key
MEMTABLE_BLOOM = 0.02  # of the write buffer (64 MB): about 1.3 MB
UNLIMITED_OPEN_FILES = -1  # RocksDB's default: every table file stays open


class RocksRepository:
    """A ``ModuleRepository`` in a RocksDB directory. Build it with ``await open(path)``."""

    def __init__(self, db: Rdict, path: str, *, keyring: Keyring | None = None) -> None:
        self._db = db
        self._path = path
        self._keyring = keyring
        self._marked = db.get(SEALED_KEY) is not None  # holds sealed values already
        self._closed = False
        self._reads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="wess-rocks-read")
        self._writes = ThreadPoolExecutor(1, thread_name_prefix="wess-rocks-write")
        self._sync = WriteOptions()
        self._sync.sync = True

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        keyring: Keyring | None = None,
        max_open_files: int = UNLIMITED_OPEN_FILES,
    ) -> RocksRepository:
        """Open (or create) the store at ``path``, sealing values with ``keyring`` if given.

        ``StorageUnavailable`` if it is damaged; ``ConfigError`` if it holds sealed
        values and no keyring is given. ``max_open_files`` goes to RocksDB as is.
        """
        location = str(Path(path))
        db = await asyncio.to_thread(open_database, location, max_open_files=max_open_files)
        if keyring is None and db.get(SEALED_KEY) is not None:
            db.close()
            raise ConfigError(f"{location}: {ENCRYPTED_STORE}", path=location)
        return cls(db, location, keyring=keyring)

    async def get(self, module_id: UUID) -> ModuleRecord | None:
        """The module with its bytes, verified against the stored digest, or None."""
        return await self._run(self._reads, self._get, module_id, module_id=module_id)

    async def get_info(self, module_id: UUID) -> ModuleInfo | None:
        """The module's metadata without reading its bytes, or None."""
        return await self._run(self._reads, self._get_info, module_id, module_id=module_id)

    async def list(
        self, *, namespace: str | None, after: UUID | None, limit: int
    ) -> list[ModuleInfo]:
        """Up to ``limit`` modules ordered by id, strictly after ``after``."""
        return await self._run(self._reads, self._list, namespace, after, limit)

    async def count(self, *, namespace: str | None = None) -> int:
        """How many modules are stored (in ``namespace``, or in all)."""
        return await self._run(self._reads, self._count, namespace)

    async def get_artifact(
        self, module_id: UUID, *, digest: str, flavor: str
    ) -> SealedArtifact | None:
        """The artifact stored for ``digest`` and ``flavor``, as stored, or None."""
        return await self._run(
            self._reads, self._get_artifact, module_id, digest, flavor, module_id=module_id
        )

    async def most_used(self, limit: int) -> UsageRanking:
        """Up to ``limit`` (module id, invocation count) pairs, most invoked first."""
        return await self._run(self._reads, self._most_used, limit)

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        return await self._run(self._reads, self._get_api_key, key_id)

    async def list_api_keys(self) -> builtins.list[ApiKey]:
        """Every key record, ordered by id."""
        return await self._run(self._reads, self._list_api_keys)

    async def audit_head(self) -> AuditEntry | None:
        """The last audit entry (highest ``seq``), or None before the first."""
        return await self._run(self._reads, self._audit_head)

    async def list_audit(self, *, after: int, limit: int) -> builtins.list[AuditEntry]:
        """Up to ``limit`` entries with ``seq > after``, in ``seq`` order."""
        return await self._run(self._reads, self._list_audit, after, limit)

    async def namespace_usage(self) -> NamespaceUsage:
        """Modules and wasm bytes per namespace: one scan of the metadata."""
        return await self._run(self._reads, self._namespace_usage)

    async def rewrap(self, keyring: Keyring) -> int:
        """Seal every module and artifact value under ``keyring.current`` and use
        ``keyring`` from now on; see ``rocks_rotation``."""
        return await self._run(self._writes, self._rewrap, keyring)

    async def commit(self, changes: Sequence[Change]) -> None:
        """Apply every change in one synced write batch; return once it is on disk."""
        await self._run(self._writes, self._commit, builtins.list(changes))

    async def transact(self, work: Transaction) -> None:
        """Run ``work`` and commit what it answers on the commit thread: one hop, and no
        other commit can come in between its reads and its commit."""
        await self._run(self._writes, self._transact, work)

    async def ping(self) -> None:
        """Read the format marker: a cheap, real read."""
        await self._run(self._reads, self._ping)

    async def aclose(self) -> None:
        """Wait for running calls, then close the database."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._shutdown)

    # -- blocking parts, run on the executors ------------------------------------------------

    def _get(self, module_id: UUID) -> ModuleRecord | None:
        # One multi-get reads both keys at the same sequence number: never half an update.
        found: Any = self._db[[META + _id(module_id), WASM + _id(module_id)]]
        meta, wasm = found
        if meta is None:
            return None
        info = decode_info(meta)
        if wasm is None:
            raise IntegrityError(
                f"module {module_id} has metadata but no stored bytes", module_id=str(module_id)
            )
        plain = unseal(
            self._keyring,
            wasm,
            wasm_aad(info.id, info.digest),
            module_id=module_id,
            what="the stored bytes",
        )
        return ModuleRecord(info=info, wasm=verified_wasm(info, plain))

    def _get_artifact(self, module_id: UUID, digest: str, flavor: str) -> SealedArtifact | None:
        stored = self._db.get(artifact_key(_id(module_id), digest, flavor))
        if stored is None:
            return None
        data = unseal(
            self._keyring,
            stored,
            artifact_aad(module_id, digest, flavor),
            module_id=module_id,
            what=f"the {flavor} artifact",
        )
        return SealedArtifact(digest=digest, flavor=flavor, data=data)

    def _get_info(self, module_id: UUID) -> ModuleInfo | None:
        meta = self._db.get(META + _id(module_id))
        return None if meta is None else decode_info(meta)

    def _get_infos(
        self, module_ids: Sequence[UUID], known: ModuleStates | None = None
    ) -> dict[UUID, ModuleInfo | None]:
        """The infos of ``module_ids``; what it finds also goes into ``known``, by key."""
        if not module_ids:
            return {}
        keys = [_id(module_id) for module_id in module_ids]
        # One multi-get: every key read at the same sequence number.
        found: Any = self._db[[META + key for key in keys]]
        infos: dict[UUID, ModuleInfo | None] = {}
        for module_id, key, meta in zip(module_ids, keys, found, strict=True):
            info = None if meta is None else decode_info(meta)
            infos[module_id] = info
            if known is not None:
                known[key] = None if info is None else (info.namespace, info.digest)
        return infos

    def _list(
        self, namespace: str | None, after: UUID | None, limit: int
    ) -> builtins.list[ModuleInfo]:
        snapshot = self._db.snapshot()
        prefix = META if namespace is None else index_prefix(namespace)
        start = prefix + (b"" if after is None else _id(after))
        found: builtins.list[ModuleInfo] = []
        for key, value in scan(snapshot, prefix, start):
            if len(found) >= limit:
                break
            if after is not None and key == start:
                continue
            if namespace is None:
                found.append(decode_info(value))
                continue
            meta_key = META + key[len(prefix) :]
            meta = next((v for k, v in scan(snapshot, meta_key, meta_key)), None)
            if meta is None:
                raise IntegrityError(f"listing index of {namespace!r} names a missing module")
            found.append(decode_info(meta))
        return found

    def _count(self, namespace: str | None) -> int:
        prefix = META if namespace is None else index_prefix(namespace)
        return sum(1 for _ in scan(self._db, prefix, prefix))

    def _most_used(self, limit: int) -> UsageRanking:
        counts = [
            (UUID(key[len(USAGE) :].decode()), int.from_bytes(value, "big"))
            for key, value in scan(self._db, USAGE, USAGE)
        ]
        counts.sort(key=lambda pair: (-pair[1], str(pair[0])))
        return counts[:limit]

    def _get_api_key(self, key_id: str) -> ApiKey | None:
        stored = self._db.get(api_key_key(key_id))
        return None if stored is None else decode_api_key(stored)

    def _list_api_keys(self) -> builtins.list[ApiKey]:
        return [decode_api_key(value) for _, value in scan(self._db, API_KEY, API_KEY)]

    def _audit_head(self) -> AuditEntry | None:
        iterator = self._db.iter()
        iterator.seek_for_prev(AUDIT + b"\xff" * SEQ_BYTES)
        found = iterator.valid() and iterator.key().startswith(AUDIT)
        head = decode_audit(iterator.value()) if found else None
        iterator.status()
        return head

    def _list_audit(self, after: int, limit: int) -> builtins.list[AuditEntry]:
        found: builtins.list[AuditEntry] = []
        if limit <= 0:
            return found
        for _, value in scan(self._db, AUDIT, audit_key(max(after, 0) + 1)):
            found.append(decode_audit(value))
            if len(found) >= limit:
                break
        return found

    def _namespace_usage(self) -> NamespaceUsage:
        usage: NamespaceUsage = {}
        for _, value in scan(self._db.snapshot(), META, META):
            info = decode_info(value)
            modules, size = usage.get(info.namespace, (0, 0))
            usage[info.namespace] = (modules + 1, size + info.size)
        return usage

    def _commit(self, changes: builtins.list[Change], *, known: ModuleStates | None = None) -> None:
        builder = BatchBuilder(self._db, known=known)
        for change in changes:
            builder.add(stage(change, self._keyring))
        marking = self._keyring is not None and builder.values_written > 0 and not self._marked
        if marking:
            builder.batch.put(SEALED_KEY, MARKER)
        if len(builder.batch):
            self._db.write(builder.batch, self._sync)
            self._marked = self._marked or marking

    def _transact(self, work: Transaction) -> None:
        view = _RocksView(self)
        changes = builtins.list(work(view))
        # Same thread, no write in between: what the view read is what the batch finds.
        self._commit(changes, known=view.known)

    def _rewrap(self, keyring: Keyring) -> int:
        check_keyring(self._db, keyring)  # refuses before anything changes
        self._keyring = keyring  # reads from now on open old and new values alike
        count = rewrap_values(self._db, keyring, sync=self._sync, marked=self._marked)
        self._marked = self._marked or count > 0
        return count

    def _ping(self) -> None:
        if self._db.get(FORMAT_KEY) != FORMAT:
            raise StorageUnavailable(f"RocksDB store at {self._path} lost its format marker")

    def _shutdown(self) -> None:
        self._reads.shutdown(wait=True)
        self._writes.shutdown(wait=True)
        self._db.close()

    async def _run(
        self,
        executor: ThreadPoolExecutor,
        call: Callable[..., T],
        *args: Any,
        module_id: UUID | None = None,
    ) -> T:
        if self._closed:
            raise StorageUnavailable(f"RocksDB store at {self._path} is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, call, *args)
        except RuntimeError as exc:
            if self._closed:  # the executor refused work because aclose() started
                raise StorageUnavailable(f"RocksDB store at {self._path} is closed") from exc
            raise
        except Exception as exc:
            if not backend_failure(exc):
                raise
            raise translate(exc, path=self._path, module_id=module_id) from exc


class _RocksView:
    """The ``StoreView`` of one transaction, read on the commit thread: blocking reads,
    with rocksdict's errors translated as ``RocksRepository._run`` translates them.
    ``known`` keeps what it found of each module, which the commit then need not read
    again."""

    def __init__(self, repository: RocksRepository) -> None:
        self._repository = repository
        self.known: ModuleStates = {}

    def get_infos(self, module_ids: Sequence[UUID]) -> dict[UUID, ModuleInfo | None]:
        return self._translated(lambda: self._repository._get_infos(module_ids, self.known))

    def get_api_key(self, key_id: str) -> ApiKey | None:
        return self._translated(lambda: self._repository._get_api_key(key_id))

    def _translated(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except Exception as exc:
            if not backend_failure(exc):
                raise
            raise translate(exc, path=self._repository._path) from exc


def open_database(path: str, *, max_open_files: int = UNLIMITED_OPEN_FILES) -> Rdict:
    """Open the raw-mode database at ``path`` with strict recovery, or explain why not.

    ``max_open_files`` caps the table files RocksDB keeps open (-1: all of them).
    """
    options = Options(raw_mode=True)
    options.set_max_open_files(max_open_files)
    options.create_if_missing(True)
    options.set_paranoid_checks(True)
    options.set_wal_recovery_mode(DBRecoveryMode.absolute_consistency())
    # Every create looks up an id that is not there. Bloom filters (on table files, and
    # on the memtable for whole keys) answer "absent" without searching: a batch's
    # multi-get of 32 new ids drops from ~130 us to ~8 us. Files written before keep
    # working without one; the memtable's filter takes MEMTABLE_BLOOM of its size.
    table = BlockBasedOptions()
    table.set_bloom_filter(BLOOM_BITS_PER_KEY, False)
    options.set_block_based_table_factory(table)
    options.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM)
    options.set_memtable_whole_key_filtering(True)
    try:
        db = Rdict(path, options)
    except Exception as exc:
        message = str(exc)
        if "Corruption" in message:
            raise StorageUnavailable(
                f"the RocksDB store at {path} is damaged ({message}). Wess refused to start "
                "rather than drop acknowledged writes during recovery. Restore it from a "
                "backup, or inspect it with RocksDB's ldb tool, before starting again.",
                path=path,
            ) from exc
        raise StorageUnavailable(f"cannot open the RocksDB store at {path}: {message}") from exc
    try:
        _check_format(db, path)
    except BaseException:
        db.close()
        raise
    return db


def _check_format(db: Rdict, path: str) -> None:
    marker = db.get(FORMAT_KEY)
    if marker == FORMAT:
        return
    if marker is None and next(scan(db, b"", b""), None) is None:
        sync = WriteOptions()
        sync.sync = True
        db.put(FORMAT_KEY, FORMAT, sync)
        return
    found = "no format marker" if marker is None else f"format {marker!r}"
    raise StorageUnavailable(
        f"{path} holds {found}, not a Wess store this version reads ({FORMAT!r})", path=path
    )


def backend_failure(exc: Exception) -> bool:
    """Whether rocksdict raised ``exc`` (it raises plain ``Exception``, ``DbClosedError``
    or ``OSError``), rather than Wess (a ``WessError``) or a bug."""
    return isinstance(exc, DbClosedError | OSError) or type(exc) is Exception


def translate(exc: Exception, *, path: str, module_id: UUID | None = None) -> StorageError:
    """A rocksdict failure as a Wess error: "Corruption" means integrity, all else I/O."""
    message = str(exc)
    where = f"module {module_id} in " if module_id is not None else ""
    if "Corruption" in message:
        return IntegrityError(
            f"RocksDB reported corruption reading {where}{path}: {message}",
            module_id=None if module_id is None else str(module_id),
        )
    return StorageUnavailable(f"RocksDB store at {path} failed: {message}")
