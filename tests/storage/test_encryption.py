"""Encryption at rest in the RocksDB store: what reaches the disk, and what refuses to open."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from rocksdict import Rdict, WriteOptions

from tests.storage.builders import make_record, unique_wasm
from tests.support import flush_families, raw_family
from wess.errors import ConfigError, IntegrityError
from wess.models import ModuleRecord, SealedArtifact, digest_of
from wess.runtime import Limits, Runtime
from wess.runtime.artifact import ArtifactSealer
from wess.security.crypto import Kek, Keyring
from wess.storage import PutArtifact, PutModule, open_store
from wess.storage.rocks import RocksStore
from wess.storage.rocks import admin as rocks_rotation
from wess.storage.rocks.database import RocksDatabase, open_database
from wess.storage.sealing import MAGIC

OLD = Kek(bytes(range(32)))
NEW = Kek(bytes(range(1, 33)))

# The module's plaintext, to search every file for. The plain-store negative control
# only works if RocksDB's block compressor (LZ-family: it replaces a run of 4 or more
# bytes seen before in the block by a back-reference) stores the canary verbatim. A
# random hex canary did not always survive: a repeated 4-character run, within it or
# shared with the hex ids and digests stored beside it, was compressed away and the
# control failed now and then. These bytes come from a seeded PRNG, so they are the same
# on every run, and the checks below hold for them: no 4-byte run repeats, and none is
# ASCII (so none matches the text of ids, digests or metadata).
CANARY = random.Random(20240607).randbytes(64)
assert len({CANARY[i : i + 4] for i in range(len(CANARY) - 3)}) == len(CANARY) - 3
assert not any(CANARY[i : i + 4].isascii() for i in range(len(CANARY) - 3))
CANARY_WAT = "".join(f"\\{byte:02x}" for byte in CANARY)
"""``CANARY`` as a WAT string: one ``\\hh`` escape per byte."""


def canary_module() -> tuple[ModuleRecord, SealedArtifact]:
    """A module whose data segment is ``CANARY``, and its real AOT artifact (which holds
    the data segment too)."""
    wat = f"""(module (memory (export "memory") 1)
      (data (i32.const 16) "{CANARY_WAT}")
      (func (export "answer") (result i32) i32.const 42))"""
    wasm = bytes(wasmtime.wat2wasm(wat))
    with Runtime(limits=Limits()) as runtime:
        program = runtime.load(wasm, digest=digest_of(wasm))
        artifact = ArtifactSealer(bytes(32), flavor=runtime.flavor).seal(runtime.export(program))
    assert CANARY in wasm
    assert CANARY in artifact.data
    return make_record(wasm=wasm), artifact


def files_holding(directory: Path, needle: bytes) -> list[str]:
    """Every file under ``directory`` (SST, WAL, MANIFEST, OPTIONS, LOG ...) holding ``needle``."""
    return sorted(
        str(path.relative_to(directory))
        for path in directory.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    )


def flush(directory: Path) -> None:
    """Move everything from the WAL into SST files, as a long-running store would."""
    flush_families(directory)


def stored(db: Rdict, key: bytes) -> bytes:
    value = db[key]
    assert isinstance(value, bytes)
    return value


def wasm_key(record: ModuleRecord) -> bytes:
    return b"w:" + str(record.id).encode()


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plain"])
async def test_no_file_of_an_encrypted_store_holds_module_plaintext(
    tmp_path: Path, encrypted: bool
) -> None:
    """With a keyring, neither the WAL (while the store is open) nor the SST files (once
    it is closed, which flushes) nor any other file holds the module's data segment, in
    its bytes or in its artifact; without one, they do (so this test can fail)."""
    record, artifact = canary_module()
    keyring = Keyring(OLD) if encrypted else None
    repo = await RocksStore.open(tmp_path, keyring=keyring)
    try:
        await repo.commit([PutModule(record), PutArtifact(record.id, artifact)])
        assert await repo.modules.get(record.id) == record
        in_wal = files_holding(tmp_path, CANARY)
    finally:
        await repo.aclose()
    flush(tmp_path)
    in_sst = files_holding(tmp_path, CANARY)
    if encrypted:
        assert in_wal == in_sst == []
    else:
        assert any(name.endswith(".log") for name in in_wal)
        assert any(name.endswith(".sst") for name in in_sst)


async def test_rewrap_leaves_no_plaintext_stored_before_encryption(tmp_path: Path) -> None:
    """Values written in plain text, then sealed by rewrap, leave no old copy behind: the
    rotation flushes and compacts, so older versions are dropped from every file."""
    record, artifact = canary_module()
    async with open_store(f"rocksdb:{tmp_path}") as repo:
        await repo.commit([PutModule(record), PutArtifact(record.id, artifact)])
    flush(tmp_path)
    assert files_holding(tmp_path, CANARY)
    async with open_store(f"rocksdb:{tmp_path}", keyring=Keyring(OLD)) as repo:
        assert await repo.admin.rewrap(Keyring(OLD)) == 2
        assert await repo.modules.get(record.id) == record
        stored = await repo.modules.get_artifact(
            record.id, digest=record.digest, flavor=artifact.flavor
        )
        assert stored == artifact
    assert files_holding(tmp_path, CANARY) == []


async def test_an_encrypted_store_refuses_to_open_without_a_keyring(tmp_path: Path) -> None:
    """Once a sealed value is stored, opening without a keyring is a ConfigError that says
    what to configure; a store that never held one opens either way."""
    async with open_store(f"rocksdb:{tmp_path}", keyring=Keyring(OLD)):
        pass  # opened with a keyring, nothing written: nothing is sealed yet
    async with open_store(f"rocksdb:{tmp_path}") as repo:
        await repo.ping()
    async with open_store(f"rocksdb:{tmp_path}", keyring=Keyring(OLD)) as repo:
        await repo.commit([PutModule(make_record())])
    with pytest.raises(ConfigError) as caught:
        async with open_store(f"rocksdb:{tmp_path}"):
            pass
    assert "this store is encrypted; configure security.encryption_key_file" in str(caught.value)
    async with open_store(f"rocksdb:{tmp_path}", keyring=Keyring(OLD)) as repo:
        await repo.ping()  # the refusal left the store closed and usable


async def test_plain_values_stay_readable_once_encryption_is_on(tmp_path: Path) -> None:
    """Bytes stored before a keyring was configured read back as they are; new ones are
    sealed (they start with the sealed-value magic, not with \\0asm)."""
    before, after = make_record(), make_record()
    async with open_store(f"rocksdb:{tmp_path}") as repo:
        await repo.commit([PutModule(before)])
    async with open_store(f"rocksdb:{tmp_path}", keyring=Keyring(OLD)) as repo:
        await repo.commit([PutModule(after)])
        assert await repo.modules.get(before.id) == before
        assert await repo.modules.get(after.id) == after
    with raw_family(tmp_path, "modules") as db:
        assert stored(db, wasm_key(before)).startswith(b"\0asm")
        assert stored(db, wasm_key(after)).startswith(MAGIC)
    with raw_family(tmp_path, "system") as system:
        assert system[b"sealed"] == b"aes-256-gcm/1"


# -- every failure to open is an IntegrityError naming the module -------------------------------


async def sealed_store(tmp_path: Path, *records: ModuleRecord) -> None:
    async with open_store(f"rocksdb:{tmp_path}", keyring=Keyring(OLD)) as repo:
        await repo.commit([PutModule(r) for r in records])


async def failure_reading(tmp_path: Path, record: ModuleRecord, keyring: Keyring) -> str:
    async with open_store(f"rocksdb:{tmp_path}", keyring=keyring) as repo:
        assert await repo.modules.get_info(record.id) == record.info  # metadata is not sealed
        with pytest.raises(IntegrityError) as caught:
            await repo.modules.get(record.id)
    assert caught.value.context["module_id"] == str(record.id)
    return str(caught.value)


async def test_bytes_moved_to_another_module_do_not_open(tmp_path: Path) -> None:
    """Two modules with the very same bytes: swapping their sealed values fails, because
    each blob is bound to its module id."""
    first = make_record()
    second = make_record(wasm=first.wasm)
    await sealed_store(tmp_path, first, second)
    with raw_family(tmp_path, "modules") as db:
        db[wasm_key(first)], db[wasm_key(second)] = db[wasm_key(second)], db[wasm_key(first)]
    message = await failure_reading(tmp_path, first, Keyring(OLD))
    assert f"the stored bytes of module {first.id} cannot be decrypted" in message


async def test_an_altered_byte_does_not_open(tmp_path: Path) -> None:
    """One flipped bit in the ciphertext fails authentication."""
    record = make_record()
    await sealed_store(tmp_path, record)
    with raw_family(tmp_path, "modules") as db:
        value = bytearray(stored(db, wasm_key(record)))
        value[-20] ^= 0x01
        db[wasm_key(record)] = bytes(value)
    assert "does not authenticate" in await failure_reading(tmp_path, record, Keyring(OLD))


async def test_a_kek_missing_from_the_keyring_is_named(tmp_path: Path) -> None:
    """Opened with a keyring that lacks the KEK the value was sealed under, the error names
    the module and the KEK."""
    record = make_record()
    await sealed_store(tmp_path, record)
    message = await failure_reading(tmp_path, record, Keyring(NEW))
    assert OLD.id in message


async def test_a_sealed_value_without_any_keyring_is_refused(tmp_path: Path) -> None:
    """If the marker is gone (removed by hand), a sealed value is still never taken for
    wasm: reading it without a keyring is an IntegrityError."""
    record = make_record()
    await sealed_store(tmp_path, record)
    with raw_family(tmp_path, "system") as system:
        del system[b"sealed"]
    async with open_store(f"rocksdb:{tmp_path}") as repo:
        with pytest.raises(IntegrityError, match="no key-encryption key is configured"):
            await repo.modules.get(record.id)


async def test_an_artifact_moved_to_another_flavor_does_not_open(tmp_path: Path) -> None:
    """Artifacts are bound to their flavor (and digest and module) as well."""
    record = make_record()
    artifact = SealedArtifact(digest=record.digest, flavor="f1", data=b"image")
    async with open_store(f"rocksdb:{tmp_path}", keyring=Keyring(OLD)) as repo:
        await repo.commit([PutModule(record), PutArtifact(record.id, artifact)])
    prefix = str(record.id).encode() + b"/" + record.digest.encode() + b"/"
    with raw_family(tmp_path, "artifacts") as db:
        db[prefix + b"f2"] = db[prefix + b"f1"]
    async with open_store(f"rocksdb:{tmp_path}", keyring=Keyring(OLD)) as repo:
        assert (
            await repo.modules.get_artifact(record.id, digest=record.digest, flavor="f1")
            == artifact
        )
        with pytest.raises(IntegrityError, match=f"f2 artifact of module {record.id}"):
            await repo.modules.get_artifact(record.id, digest=record.digest, flavor="f2")


# -- rotation cut short -------------------------------------------------------------------------


class CrashAfter:
    """A database handle whose ``write`` dies after ``writes`` synced batches: a crash
    right after a chunk of the rotation became durable."""

    def __init__(self, db: Rdict, writes: int) -> None:
        self._db = db
        self._left = writes

    def write(self, batch: Any, options: WriteOptions) -> None:
        if not self._left:
            raise SystemExit("crash")
        self._db.write(batch, options)
        self._left -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_a_rotation_cut_short_is_finished_by_running_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a crash mid-rotation, every value reads back (old and new KEK are both in the
    keyring), and running the rotation again rewrites only what was left."""
    records = [make_record(wasm=unique_wasm(str(i))) for i in range(10)]
    await sealed_store(tmp_path, *records)
    monkeypatch.setattr(rocks_rotation, "CHUNK", 3)
    database = RocksDatabase(CrashAfter(open_database(str(tmp_path)), 2), str(tmp_path))
    try:
        with pytest.raises(SystemExit):
            rocks_rotation.rewrap_values(database, Keyring(NEW, [OLD]))
    finally:
        await database.aclose()
    async with open_store(f"rocksdb:{tmp_path}", keyring=Keyring(NEW, [OLD])) as repo:
        for record in records:
            assert await repo.modules.get(record.id) == record
        assert await repo.admin.rewrap(Keyring(NEW, [OLD])) == 10 - 6
        assert await repo.admin.rewrap(Keyring(NEW, [OLD])) == 0
    async with open_store(f"rocksdb:{tmp_path}", keyring=Keyring(NEW)) as repo:
        for record in records:
            assert await repo.modules.get(record.id) == record
