"""wess-rocks/2 -> wess-rocks/3: revisions and names.

Format 3 keeps every retained revision of a module beside it (``r:``/``v:`` keys) and
indexes module names per namespace (``x:`` keys). This step gives every stored module
its current content as its one retained revision, under the number it has (a client
may have seen that number already), and indexes its name: a name that parses as a UUID
(a module uploaded without one) is not indexed, and when two modules of a namespace
share a name, the older keeps it and the other is addressed by its id only (counted
in the summary as ``names left out``). Bytes are copied as stored (sealed ones stay
sealed: their associated data names the module and the digest, not the key).

Every write is idempotent (the same revision copied again, a name the module holds
already left alone), so a crash anywhere is finished by running the step again, from
the start; the last synced batch sets the new format.
"""

from __future__ import annotations

from typing import Any

from rocksdict import Rdict, WriteBatch, WriteOptions

from wess.errors import IntegrityError
from wess.models import ModuleInfo, is_addressable_name
from wess.storage.records import decode_info
from wess.storage.rocks.layout import (
    FORMAT_KEY,
    META,
    MIGRATION_KEY,
    MODULES,
    REVISION_META,
    REVISION_WASM,
    SYSTEM,
    WASM,
    name_key,
    revision_key,
    scan,
)

SOURCE = b"wess-rocks/2"
TARGET = b"wess-rocks/3"
SUMMARY = "keep each module's current content as its first retained revision; index names"
CHUNK = 500
"""Modules done per synced batch."""


def apply(db: Rdict) -> int:
    """Copy each module's current content to a revision and index its name, resuming
    after the last recorded module; answers how many modules it did."""
    sync = WriteOptions()
    sync.sync = True
    system = db.get_column_family(SYSTEM)
    modules = db.get_column_family(MODULES)
    handles: dict[str, Any] = {
        name: db.get_column_family_handle(name) for name in (SYSTEM, MODULES)
    }
    try:
        stored = sorted(
            ((decode_info(value), value) for _, value in scan(modules, META, META)),
            key=lambda pair: _age(pair[0]),
        )
        done = 0
        batch = WriteBatch(raw_mode=True)
        names: dict[bytes, bytes] = {}
        for info, meta in stored:
            key = str(info.id).encode()
            wasm = modules.get(WASM + key)
            if wasm is None:
                raise IntegrityError(
                    f"module {info.id} has metadata but no stored bytes; restore a backup "
                    "or remove it with `wess rm` before migrating",
                    module_id=str(info.id),
                )
            batch.put(revision_key(REVISION_META, key, info.revision), meta, handles[MODULES])
            batch.put(revision_key(REVISION_WASM, key, info.revision), wasm, handles[MODULES])
            if is_addressable_name(info.name):
                held = name_key(info.namespace, info.name)
                if held not in names and modules.get(held) in (None, key):
                    batch.put(held, key, handles[MODULES])
                    names[held] = key
            done += 1
            if done % CHUNK == 0:
                db.write(batch, sync)
                batch = WriteBatch(raw_mode=True)
        batch.put(FORMAT_KEY, TARGET, handles[SYSTEM])
        batch.delete(MIGRATION_KEY, handles[SYSTEM])
        db.write(batch, sync)
        return done
    finally:
        handles.clear()
        system.close()
        modules.close()


def _age(info: ModuleInfo) -> tuple[object, str]:
    """Oldest first, so the older of two modules sharing a name keeps it."""
    return info.created_at, str(info.id)
