"""wess-rocks/1 -> wess-rocks/2: every kind of data into a column family of its own.

Format 1 kept everything in RocksDB's default family, told apart by a key prefix
(``~format``, ``~sealed``, ``m:``, ``w:``, ``n:``, ``a:``, ``u:``, ``k:``, ``l:``). This
step copies each record to its family under the same key without its prefix (module
records keep theirs: metadata, bytes and index share the ``modules`` family), in synced
batches that also record how far it got; its last batch empties the default family and
sets the new format. A crash at any point resumes from the last recorded key (copies
are idempotent), and no record exists in neither place at any moment.
"""

from __future__ import annotations

import json
from typing import Any

from rocksdict import Rdict, WriteBatch, WriteOptions

from wess.errors import StorageUnavailable
from wess.storage.rocks.database import compact
from wess.storage.rocks.layout import (
    ARTIFACTS,
    AUDIT,
    FAMILIES,
    FORMAT_KEY,
    KEYS,
    MIGRATION_KEY,
    MODULES,
    SEALED_KEY,
    SYSTEM,
    USAGE,
)

SOURCE = b"wess-rocks/1"
TARGET = b"wess-rocks/2"
SUMMARY = "move every kind of data into a column family of its own"
CHUNK = 1000
"""Records copied per synced batch."""
DEFAULT_END = b"\xff"
"""Past every format-1 key (they all begin with an ASCII character)."""

ROUTES: tuple[tuple[bytes, str, bool], ...] = (
    (b"m:", MODULES, True),
    (b"w:", MODULES, True),
    (b"n:", MODULES, True),
    (b"a:", ARTIFACTS, False),
    (b"u:", USAGE, False),
    (b"k:", KEYS, False),
    (b"l:", AUDIT, False),
)
"""Format-1 prefix -> the family it moves to, and whether the key keeps its prefix."""


def destination(key: bytes) -> tuple[str, bytes] | None:
    """Where a format-1 record goes (family, key); None for the old format marker."""
    if key == b"~format":
        return None
    if key == b"~sealed":
        return SYSTEM, SEALED_KEY
    for prefix, family, keeps in ROUTES:
        if key.startswith(prefix):
            return family, key if keeps else key[len(prefix) :]
    raise StorageUnavailable(
        f"the format-1 store holds a key Wess never wrote ({key[:40]!r}); nothing was "
        "migrated past it. Restore a backup, or remove the key with RocksDB's ldb tool."
    )


def apply(db: Rdict) -> int:
    """Copy, resuming after the last recorded key; then empty the default family and
    set the new format in one synced batch. Answers how many records were copied."""
    sync = WriteOptions()
    sync.sync = True
    system = db.get_column_family(SYSTEM)
    handles: dict[str, Any] = {name: db.get_column_family_handle(name) for name in FAMILIES}
    try:
        recorded = system.get(MIGRATION_KEY)
        start = b"" if recorded is None else bytes.fromhex(json.loads(recorded)["after"]) + b"\0"
        copied = 0
        batch = WriteBatch(raw_mode=True)
        iterator = db.iter()
        iterator.seek(start)
        while iterator.valid():
            key: bytes = iterator.key()
            target = destination(key)
            if target is not None:
                batch.put(target[1], iterator.value(), handles[target[0]])
                copied += 1
            if len(batch) >= CHUNK:
                _record(batch, key, handles[SYSTEM])
                db.write(batch, sync)
                batch = WriteBatch(raw_mode=True)
            iterator.next()
        iterator.status()
        del iterator
        batch.delete_range(b"", DEFAULT_END)
        batch.put(FORMAT_KEY, TARGET, handles[SYSTEM])
        batch.delete(MIGRATION_KEY, handles[SYSTEM])
        db.write(batch, sync)
        compact(db)  # the default family's old files go now
        return copied
    finally:
        handles.clear()
        system.close()


def _record(batch: WriteBatch, after: bytes, system: Any) -> None:
    batch.put(MIGRATION_KEY, json.dumps({"step": "v2", "after": after.hex()}).encode(), system)
