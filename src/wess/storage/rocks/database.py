"""The RocksDB handle every concept store of a ``RocksStore`` shares, and how it is opened.

rocksdict calls block, so reads run on a small thread pool and commits (and rewraps)
on one thread of their own (commits read what they change, so they must not
interleave). ``RocksDatabase.read`` and ``.write`` run a blocking call on one of them
and translate rocksdict's failures into Wess errors, in one place.

A commit is written without sync by the write thread (``write_batch``), then made
durable by ``flush_wal(sync=True)`` on a third thread, which lets go of the GIL while
the disk syncs: the write thread plans the next batch meanwhile. Readers see the
families through ``visible``, behind the ``DurabilityGate`` (``gate``), so no read
finds a batch before its sync returned.

The database opens in raw mode (plain bytes, never pickle) with paranoid checks and one
column family per kind of data (``layout``), and replays its WAL with
``absolute_consistency``: a damaged log makes open fail rather than silently drop
acknowledged writes (the default, point-in-time recovery, stops at the damage).
``read_format`` then tells which layout the directory holds, from the ``system``
family or, when that cannot be read, from the copy in ``FORMAT_FILE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import structlog
from rocksdict import (
    AccessType,
    BlockBasedOptions,
    BottommostLevelCompaction,
    Cache,
    CompactOptions,
    DbClosedError,
    DBRecoveryMode,
    Options,
    Rdict,
    WriteOptions,
)

from wess.errors import IntegrityError, StorageError, StorageUnavailable
from wess.files import write_file
from wess.security.crypto import Keyring
from wess.storage.damage import DamageLog
from wess.storage.rocks.gate import DurabilityGate, GatedFamily
from wess.storage.rocks.layout import (
    ADDED_FAMILIES,
    FAMILIES,
    FORMAT,
    FORMAT_FILE,
    FORMAT_KEY,
    SEALED_KEY,
    SYSTEM,
    Skipped,
    scan,
)

T = TypeVar("T")
logger = structlog.get_logger(__name__)

READ_THREADS = 4
BLOOM_BITS_PER_KEY = 10  # ~1% false positives, ~1.25 bytes per key
MEMTABLE_BLOOM = 0.02  # of the write buffer (64 MB): about 1.3 MB
UNLIMITED_OPEN_FILES = -1  # RocksDB's default: every table file stays open
MEMTABLE_BYTES = 32 << 20
"""All column families' memtables together: past this RocksDB flushes the largest. Each
family would otherwise keep up to two 64 MB memtables: invoking 10,000 new modules
stores 10,000 artifacts, and their memtables alone took ~100 MB of the server's RSS."""
BLOCK_CACHE_BYTES = 16 << 20
"""The one block cache every column family shares. Without it each family gets its own
32 MB cache, so a store whose families are read widely grows by up to 32 MB per family
(reading 240 MB back from four families grew a process by ~100 MB; with one 16 MB cache,
by nothing). Wess's own caches (the Reader's records, the compiled modules) sit in front
of it, so RocksDB's blocks only serve what those miss."""


class RocksDatabase:
    """An open RocksDB directory, its column families (``visible[name]`` to read one
    as readers may, ``family[name]`` as the write thread does, ``handle[name]`` to name
    one in a ``WriteBatch``), its executors, and the keyring its values are sealed with
    (None: stored in plain text). Shared by the concept stores of one store."""

    def __init__(self, db: Rdict, path: str, *, keyring: Keyring | None = None) -> None:
        self.db = db
        self.path = path
        self.keyring = keyring
        present = [name for name in FAMILIES if name not in ADDED_FAMILIES or _has(db, name)]
        self.family: dict[str, Rdict] = {name: db.get_column_family(name) for name in present}
        self.handle: dict[str, Any] = {name: db.get_column_family_handle(name) for name in present}
        self.marked = self.family[SYSTEM].get(SEALED_KEY) is not None  # holds sealed values
        self.damage = DamageLog()
        self.closed = False
        self.sync = WriteOptions()
        self.sync.sync = True
        self._unsynced = WriteOptions()
        self._unsynced.sync = False
        self.gate = DurabilityGate()
        self._writer_thread: int | None = None
        self.visible: dict[str, GatedFamily] = {
            name: GatedFamily(family, self.gate, self._on_write_thread)
            for name, family in self.family.items()
        }
        self._reads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="wess-rocks-read")
        self._writes = ThreadPoolExecutor(
            1, thread_name_prefix="wess-rocks-write", initializer=self._note_write_thread
        )
        self._syncs = ThreadPoolExecutor(1, thread_name_prefix="wess-rocks-sync")

    async def read(self, call: Callable[..., T], *args: Any, module_id: UUID | None = None) -> T:
        """``call(*args)`` on a read thread, its failures translated."""
        return await self._run(self._reads, call, args, module_id)

    async def write(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` on the one write thread (commits never interleave)."""
        return await self._run(self._writes, call, args, None)

    def write_batch(self, batch: Any) -> Future[None]:
        """On the write thread: write ``batch`` without sync behind the closed gate, and
        start its sync; the future ends once it is durable (and readers may see it)."""
        self.gate.close()
        try:
            self.db.write(batch, self._unsynced)
        except BaseException:
            self.gate.open()  # nothing was written
            raise
        return self._syncs.submit(self._sync)

    async def synced(self, sync: Future[None]) -> None:
        """Wait for a ``write_batch``'s sync, its failure translated."""
        try:
            await asyncio.wrap_future(sync)
        except Exception as exc:
            if not backend_failure(exc):
                raise
            raise self._translate(exc, None) from exc

    def _sync(self) -> None:
        try:
            self.db.flush_wal(True)  # releases the GIL while the disk syncs
        except BaseException as exc:
            self.gate.break_for_good(
                f"RocksDB store at {self.path}: syncing its log failed ({exc}); a write may "
                "be visible that is not durable, so the store serves nothing more: restart"
            )
            raise
        self.gate.open()

    def _note_write_thread(self) -> None:
        self._writer_thread = threading.get_ident()

    def _on_write_thread(self) -> bool:
        return threading.get_ident() == self._writer_thread

    def skipped(self, family: str) -> Skipped:
        """What a scan of ``family`` tells when it steps over a damaged block."""

        def note(after: bytes, resumed: bytes | None) -> None:
            self.damage.skipped(family, after, resumed)

        return note

    def translated(self, call: Callable[[], T], *, module_id: UUID | None = None) -> T:
        """``call()`` here, on the calling thread, its failures translated as ``read``'s."""
        try:
            return call()
        except Exception as exc:
            if not backend_failure(exc):
                raise
            raise self._translate(exc, module_id) from exc

    async def aclose(self) -> None:
        """Wait for running calls, then close the database."""
        if self.closed:
            return
        self.closed = True
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._writes.shutdown(wait=True)
        self._syncs.shutdown(wait=True)
        self._reads.shutdown(wait=True)
        self.handle.clear()
        try:
            close(self.db, self.family.values())
        except Exception as exc:  # every write was synced when it was acknowledged
            if not backend_failure(exc):
                raise
            logger.error("closing the store reported an error", path=self.path, error=str(exc))

    async def _run(
        self,
        executor: ThreadPoolExecutor,
        call: Callable[..., T],
        args: tuple[Any, ...],
        module_id: UUID | None,
    ) -> T:
        if self.closed:
            raise StorageUnavailable(f"RocksDB store at {self.path} is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, call, *args)
        except RuntimeError as exc:
            if self.closed:  # the executor refused work because aclose() started
                raise StorageUnavailable(f"RocksDB store at {self.path} is closed") from exc
            raise
        except Exception as exc:
            if not backend_failure(exc):
                raise
            raise self._translate(exc, module_id, call) from exc

    def _translate(
        self, exc: Exception, module_id: UUID | None, call: Callable[..., Any] | None = None
    ) -> StorageError:
        error = translate(exc, path=self.path, module_id=module_id)
        if isinstance(error, IntegrityError):
            what = f"module {module_id}" if module_id else getattr(call, "__name__", "a read")
            self.damage.unreadable(what)
        return error


def _has(db: Rdict, name: str) -> bool:
    try:
        db.get_column_family_handle(name)
    except Exception:
        return False
    return True


def open_database(
    path: str, *, max_open_files: int = UNLIMITED_OPEN_FILES, read_only: bool = False
) -> Rdict:
    """Open (or create) the raw-mode database at ``path`` with every column family of
    ``layout`` and strict recovery, or explain why not.

    Recovery and serving want opposite strictness. RocksDB checks the WAL's records
    only with ``paranoid_checks`` (without it, ``absolute_consistency`` lets a damaged
    log through and acknowledged writes after the damage are silently dropped); but
    with it, a corrupt block met by a background compaction becomes a fatal error and
    every later write fails until a restart. So the directory is opened twice: once
    paranoid, which replays and verifies the WAL, then flushes what it replayed into
    table files and closes; then not paranoid, to serve: a compaction that meets a
    damaged block fails alone, the records in it stay unreadable (reads report them),
    and the rest of the store is read and written. Every record is verified on read.

    ``max_open_files`` caps the table files RocksDB keeps open (-1: all of them).
    ``read_only`` opens an existing directory once, paranoid, and writes nothing to it
    (a backup being checked).
    """
    if read_only:
        return _open(path, max_open_files, paranoid=True, read_only=True)
    recovered = _open(path, max_open_files, paranoid=True)
    try:
        for name in FAMILIES:
            family = recovered.get_column_family(name)
            try:
                family.flush()
            finally:
                family.close()
        recovered.flush()
    except Exception as exc:  # a flush that fails leaves the (verified) WAL to replay
        if not backend_failure(exc):
            raise
    finally:
        with contextlib.suppress(Exception):  # a background error may surface here
            recovered.close()
    return _open(path, max_open_files, paranoid=False)


def _open(path: str, max_open_files: int, *, paranoid: bool, read_only: bool = False) -> Rdict:
    cache = Cache(BLOCK_CACHE_BYTES)
    options = store_options(max_open_files, cache)
    options.set_db_write_buffer_size(MEMTABLE_BYTES)
    options.create_if_missing(not read_only)
    options.create_missing_column_families(not read_only)
    options.set_paranoid_checks(paranoid)
    options.set_wal_recovery_mode(DBRecoveryMode.absolute_consistency())
    names: tuple[str, ...] = FAMILIES
    if read_only:  # an older store may lack the families added since (layout)
        try:
            existing = set(Rdict.list_cf(path))
        except Exception:  # no store there: the open below says so
            existing = set(FAMILIES)
        names = tuple(name for name in FAMILIES if name in existing or name not in ADDED_FAMILIES)
    families = {name: store_options(max_open_files, cache) for name in names}
    access = AccessType.read_only() if read_only else AccessType.read_write()
    try:
        return Rdict(path, options, column_families=families, access_type=access)
    except Exception as exc:
        message = str(exc)
        if "Corruption" in message:
            raise StorageUnavailable(
                f"the RocksDB store at {path} is damaged ({message}). Wess refused to start "
                "rather than drop acknowledged writes during recovery. Restore it from a "
                "backup (wess backup restore), or copy what is intact to a new store with "
                f"`wess salvage --data-dir {path} --into NEW_DIR`.",
                path=path,
            ) from exc
        raise StorageUnavailable(f"cannot open the RocksDB store at {path}: {message}") from exc


def store_options(max_open_files: int, cache: Cache | None = None) -> Options:
    """The options of the database and of each of its column families; ``cache`` is
    the block cache they share (None: RocksDB's own per family)."""
    options = Options(raw_mode=True)
    options.set_max_open_files(max_open_files)
    # Every create looks up an id that is not there. Bloom filters (on table files, and
    # on the memtable for whole keys) answer "absent" without searching: a batch's
    # multi-get of 32 new ids drops from ~130 us to ~8 us. Files written before keep
    # working without one; the memtable's filter takes MEMTABLE_BLOOM of its size.
    table = BlockBasedOptions()
    table.set_bloom_filter(BLOOM_BITS_PER_KEY, False)
    if cache is not None:
        table.set_block_cache(cache)
    options.set_block_based_table_factory(table)
    options.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM)
    options.set_memtable_whole_key_filtering(True)
    return options


def compact(family: Rdict) -> None:
    """Rewrite ``family``'s files down to the bottom level, dropping replaced and deleted
    versions now (a plain ``compact_range`` may leave files it deems settled)."""
    options = CompactOptions()
    options.set_bottommost_level_compaction(BottommostLevelCompaction.force())
    family.flush()
    family.compact_range(None, None, options)


def close(db: Rdict, families: Iterable[Rdict] = ()) -> None:
    """Close the column families taken from ``db``, then ``db``: rocksdict keeps the
    database open while any family of it is open."""
    for family in families:
        family.close()
    db.close()


LEGACY_FORMAT_KEY = b"~format"
"""Where format 1 (one column family) kept its marker, in the default family."""


def read_format(db: Rdict, path: str, *, read_only: bool = False) -> bytes | None:
    """The layout ``db`` holds: the ``system`` family's marker, else its copy in
    ``FORMAT_FILE`` (the family's block may be the one damaged), else format 1's marker
    in the default family; None for an empty directory, which becomes a store of this
    format here (marker and copy written, synced, unless ``read_only``)."""
    system = db.get_column_family(SYSTEM)
    try:
        marker = system_format(system, path)
        if marker is not None:
            if marker == FORMAT and not read_only and _format_file(path) is None:
                write_format_file(path)  # a copy lost after a migration's last step
            return bytes(marker)
        legacy = db.get(LEGACY_FORMAT_KEY)
        if legacy is not None:
            return bytes(legacy)
        if _empty(db):
            if read_only:
                return None
            sync = WriteOptions()
            sync.sync = True
            system.put(FORMAT_KEY, FORMAT, sync)
            write_format_file(path)
            return None
        return b""
    finally:
        system.close()


def system_format(system: Any, path: str) -> bytes | None:
    """The format marker of the ``system`` family, or its copy in ``FORMAT_FILE`` when the
    family's block is damaged (None: no marker there)."""
    try:
        marker: bytes | None = system.get(FORMAT_KEY)
    except Exception as exc:
        if "Corruption" not in str(exc):
            raise
        copy = _format_file(path)
        if copy is None:
            raise
        return copy
    return marker


def write_format_file(path: str) -> None:
    """Record the current format in ``FORMAT_FILE`` (whole or not at all, synced)."""
    document = json.dumps({"format": FORMAT.decode()}).encode()
    write_file(Path(path) / FORMAT_FILE, document, mode=0o600)


def _format_file(path: str) -> bytes | None:
    try:
        document = json.loads((Path(path) / FORMAT_FILE).read_text(encoding="utf-8"))
        return str(document["format"]).encode()
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _empty(db: Rdict) -> bool:
    if next(scan(db, b"", b""), None) is not None:
        return False
    for name in (name for name in FAMILIES if _has(db, name)):
        family = db.get_column_family(name)
        try:
            if next(scan(family, b"", b""), None) is not None:
                return False
        finally:
            family.close()
    return True


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
