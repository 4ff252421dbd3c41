"""A readable copy of a RocksDB store that will not open as it is, for ``wess salvage``.

Wess opens a store strictly (``database.open_database``): a damaged write-ahead log or
MANIFEST makes the open fail rather than drop acknowledged writes. That is right for
serving, but salvage must read what is left, and must never change the damaged store
(it is the evidence, and a later, better tool may read more of it). So ``recovered``
copies the directory and makes the copy openable, in the least lossy way that works:

1. the WAL replayed skipping the records that fail their checksum
   (``skip_any_corrupted_record``): only the damaged batches are lost;
2. else RocksDB's repair, which rebuilds the MANIFEST from the table files: writes
   still only in the write-ahead log may be lost with it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rocksdict import DBRecoveryMode, Options, Rdict

from wess.errors import StorageUnavailable
from wess.storage.rocks.database import (
    UNLIMITED_OPEN_FILES,
    close,
    open_database,
    store_options,
)
from wess.storage.rocks.layout import FAMILIES

REPLAYED = "its write-ahead log replayed skipping the damaged records"
REPAIRED = (
    "its MANIFEST rebuilt from the table files (RocksDB repair); writes that were only "
    "in the write-ahead log may be lost"
)


@dataclass(frozen=True)
class Recovered:
    """Where to read the store from, and how it was made readable (None: as it was)."""

    path: Path
    how: str | None


@contextlib.contextmanager
def recovered(path: Path, *, scratch: Path) -> Iterator[Recovered]:
    """The store at ``path`` if it opens as it is; else a repaired copy made in a new
    directory under ``scratch`` (removed on exit). ``StorageUnavailable`` if no way
    makes it readable."""
    try:
        close(open_database(str(path), read_only=True))
    except StorageUnavailable as exc:
        if "Corruption" not in str(exc):
            raise
    else:
        yield Recovered(path, None)
        return
    work = Path(tempfile.mkdtemp(prefix=".wess-recovering-", dir=scratch))
    try:
        copy = work / "store"
        shutil.copytree(path, copy, ignore=shutil.ignore_patterns("LOCK"))
        yield Recovered(copy, _make_readable(copy))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _make_readable(copy: Path) -> str:
    try:
        _replay_skipping_damage(copy)
        how = REPLAYED
    except Exception as exc:
        if "Corruption" not in str(exc):
            raise
        Rdict.repair(str(copy), Options(raw_mode=True))
        how = REPAIRED
    try:
        close(open_database(str(copy)))
    except StorageUnavailable as exc:
        raise StorageUnavailable(
            f"the store at {copy.parent.parent} could not be made readable even after "
            f"repair ({exc.detail}); restore it from a backup (wess backup restore)"
        ) from exc
    return how


def _replay_skipping_damage(copy: Path) -> None:
    """Open the copy replaying its WAL past damaged records, flush it all to table
    files and close: the next (strict) open finds no log to replay."""
    options = store_options(UNLIMITED_OPEN_FILES)
    options.set_wal_recovery_mode(DBRecoveryMode.skip_any_corrupted_record())
    options.set_paranoid_checks(False)
    families = {name: store_options(UNLIMITED_OPEN_FILES) for name in FAMILIES}
    db = Rdict(str(copy), options, column_families=families)
    opened = [db.get_column_family(name) for name in FAMILIES]
    try:
        for family in opened:
            family.flush()
    finally:
        close(db, opened)
