"""The RocksDB handle every concept store of a ``RocksStore`` shares, and how it is opened.

rocksdict calls block, so reads run on a small thread pool and commits (and rewraps)
on one thread of their own (commits read what they change, so they must not
interleave). ``RocksDatabase.read`` and ``.write`` run a blocking call on one of them
and translate rocksdict's failures into Wess errors, in one place.

The database opens in raw mode (plain bytes, never pickle) with paranoid checks, and
replays its WAL with ``absolute_consistency``: a damaged log makes open fail rather
than silently drop acknowledged writes (the default, point-in-time recovery, stops at
the damage).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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

from wess.errors import IntegrityError, StorageError, StorageUnavailable
from wess.security.crypto import Keyring
from wess.storage.rocks.layout import FORMAT, FORMAT_KEY, SEALED_KEY, scan

T = TypeVar("T")

READ_THREADS = 4
BLOOM_BITS_PER_KEY = 10  # ~1% false positives, ~1.25 bytes per key
MEMTABLE_BLOOM = 0.02  # of the write buffer (64 MB): about 1.3 MB
UNLIMITED_OPEN_FILES = -1  # RocksDB's default: every table file stays open


class RocksDatabase:
    """An open RocksDB directory, its executors, and the keyring its values are sealed
    with (None: stored in plain text). Shared by the concept stores of one store."""

    def __init__(self, db: Rdict, path: str, *, keyring: Keyring | None = None) -> None:
        self.db = db
        self.path = path
        self.keyring = keyring
        self.marked = db.get(SEALED_KEY) is not None  # holds sealed values already
        self.closed = False
        self.sync = WriteOptions()
        self.sync.sync = True
        self._reads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="wess-rocks-read")
        self._writes = ThreadPoolExecutor(1, thread_name_prefix="wess-rocks-write")

    async def read(self, call: Callable[..., T], *args: Any, module_id: UUID | None = None) -> T:
        """``call(*args)`` on a read thread, its failures translated."""
        return await self._run(self._reads, call, args, module_id)

    async def write(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` on the one write thread (commits never interleave)."""
        return await self._run(self._writes, call, args, None)

    def translated(self, call: Callable[[], T], *, module_id: UUID | None = None) -> T:
        """``call()`` here, on the calling thread, its failures translated as ``read``'s."""
        try:
            return call()
        except Exception as exc:
            if not backend_failure(exc):
                raise
            raise translate(exc, path=self.path, module_id=module_id) from exc

    async def aclose(self) -> None:
        """Wait for running calls, then close the database."""
        if self.closed:
            return
        self.closed = True
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._reads.shutdown(wait=True)
        self._writes.shutdown(wait=True)
        self.db.close()

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
            raise translate(exc, path=self.path, module_id=module_id) from exc


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
