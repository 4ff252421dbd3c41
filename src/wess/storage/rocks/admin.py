"""Key rotation in the RocksDB store: every module and artifact value sealed under the
current KEK.

``check_keyring`` reads every value first and refuses, before anything changes, if the
new keyring cannot unwrap one of them (a retired KEK file left out of the
configuration). ``rewrap_values`` then rewrites, in synced batches of ``CHUNK``, the
values that need it: data keys wrapped under another KEK are re-wrapped (the payload is
not touched), plain values are sealed. A value already under the current KEK is
skipped, so a rotation cut short by a crash is finished by running it again; values not
reached yet stay readable meanwhile, since the keyring holds the retired KEKs.

Afterwards the memtable is flushed and the whole key range compacted: the versions just
replaced (plain text, data keys wrapped under the retired KEK) are dropped from the SST
files now instead of lingering until some later compaction.

``RocksAdmin.rewrap`` runs both on the store's write thread, so no commit interleaves.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from rocksdict import Checkpoint, WriteBatch

from wess.errors import IntegrityError
from wess.security.crypto import Keyring
from wess.storage.damage import DamageReport
from wess.storage.records import decode_info
from wess.storage.rocks.database import RocksDatabase, compact
from wess.storage.rocks.layout import (
    ARTIFACTS,
    META,
    MODULES,
    REVISION_META,
    REVISION_WASM,
    SEALED_KEY,
    SEPARATOR,
    SYSTEM,
    WASM,
    scan,
)
from wess.storage.sealing import MARKER, artifact_aad, check_opens, reseal, wasm_aad

CHUNK = 256
"""Values rewritten per synced batch."""
PER_FAMILY = {
    "memtables": "rocksdb.cur-size-all-mem-tables",
    "table_readers": "rocksdb.estimate-table-readers-mem",
}
"""RocksDB's memory that each column family holds apart (summed over the families)."""
BLOCK_CACHE = "rocksdb.block-cache-usage"
"""The block cache's bytes: one cache every family shares (``BLOCK_CACHE_BYTES``)."""


class RocksAdmin:
    """The ``StoreAdmin`` of a ``RocksStore``."""

    def __init__(self, database: RocksDatabase) -> None:
        self._d = database

    def damage(self) -> DamageReport:
        return self._d.damage.report()

    def memory(self) -> dict[str, int]:
        """RocksDB's memory by kind, from its properties (thread-safe, a few µs)."""
        d = self._d
        if d.closed:
            return {}
        found = dict.fromkeys(PER_FAMILY, 0)
        for family in d.family.values():
            for kind, name in PER_FAMILY.items():
                found[kind] += family.property_int_value(name) or 0
        found["block_cache"] = d.db.property_int_value(BLOCK_CACHE) or 0
        return found

    async def rewrap(self, keyring: Keyring) -> int:
        """Seal every module and artifact value under ``keyring.current`` and use
        ``keyring`` from now on."""
        return await self._d.write(self._rewrap, keyring)

    async def checkpoint(self, path: str) -> None:
        """A RocksDB checkpoint in ``path``: table files hard-linked (copied when ``path``
        is on another file system), consistent across every column family. It runs on a
        read thread, behind the durability gate: it holds no batch before its sync."""
        await self._d.read(self._checkpoint, path)

    def _checkpoint(self, path: str) -> None:
        with self._d.gate.reading():
            Checkpoint(self._d.db).create_checkpoint(path)

    def _rewrap(self, keyring: Keyring) -> int:
        d = self._d
        check_keyring(d, keyring)  # refuses before anything changes
        d.keyring = keyring  # reads from now on open old and new values alike
        count = rewrap_values(d, keyring)
        d.marked = d.marked or count > 0
        return count


def check_keyring(d: RocksDatabase, keyring: Keyring) -> None:
    """``IntegrityError`` naming a module whose value ``keyring`` cannot unwrap."""
    known: set[str] = set()
    for _, _, stored, _, module_id, what in _values(d):
        check_opens(keyring, stored, known, module_id=module_id, what=what)


def rewrap_values(d: RocksDatabase, keyring: Keyring) -> int:
    """Rewrite every value not sealed under ``keyring.current``; how many were rewritten.
    The first batch records that the store holds sealed values, unless it did already."""
    count = 0
    batch = WriteBatch(raw_mode=True)
    pending = 0
    marked = d.marked
    for family, key, stored, aad, module_id, what in _values(d):
        resealed = reseal(keyring, stored, aad, module_id=module_id, what=what)
        if resealed is None:
            continue
        if not marked:
            batch.put(SEALED_KEY, MARKER, d.handle[SYSTEM])
            marked = True
        batch.put(key, resealed, d.handle[family])
        pending += 1
        if pending >= CHUNK:
            d.db.write(batch, d.sync)
            count, pending = count + pending, 0
            batch = WriteBatch(raw_mode=True)
    if pending:
        d.db.write(batch, d.sync)
        count += pending
    if count:
        for family in (MODULES, ARTIFACTS):
            compact(d.family[family])
    return count


def _values(d: RocksDatabase) -> Iterator[tuple[str, bytes, bytes, bytes, str, str]]:
    """(family, key, stored value, associated data, module id, what it is) of every value
    that is sealed when a keyring is configured: module bytes, then artifacts."""
    modules = d.family[MODULES]
    for key, stored in scan(modules, WASM, WASM):
        module_key = key[len(WASM) :]
        meta = modules.get(META + module_key)
        if meta is None:
            module_id = module_key.decode(errors="replace")
            raise IntegrityError(
                f"module {module_id} has stored bytes but no metadata", module_id=module_id
            )
        info = decode_info(meta)
        aad = wasm_aad(info.id, info.digest)
        yield MODULES, key, stored, aad, str(info.id), "the stored bytes"
    for key, stored in scan(modules, REVISION_WASM, REVISION_WASM):
        meta = modules.get(REVISION_META + key[len(REVISION_WASM) :])
        if meta is None:
            raise IntegrityError(f"revision bytes {key!r} have no metadata")
        info = decode_info(meta)
        aad = wasm_aad(info.id, info.digest)
        yield MODULES, key, stored, aad, str(info.id), f"the bytes of revision {info.revision}"
    for key, stored in scan(d.family[ARTIFACTS], b"", b""):
        parts = key.split(SEPARATOR, 2)
        try:
            module_id, digest, flavor = (part.decode() for part in parts)
            aad = artifact_aad(UUID(module_id), digest, flavor)
        except ValueError:
            raise IntegrityError(f"artifact key {key!r} is malformed") from None
        yield ARTIFACTS, key, stored, aad, module_id, f"the {flavor} artifact"
