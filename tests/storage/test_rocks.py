"""RocksDB specifics: durability, crashes, corruption and the raw on-disk form."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import orjson
import pytest
from rocksdict import DBRecoveryMode, Options, Rdict

from tests.storage.builders import make_record, unique_wasm
from tests.support import raw_family
from wess.errors import IntegrityError, StorageUnavailable
from wess.models import SCHEMA_VERSION, digest_of
from wess.storage import PutModule
from wess.storage.rocks import RocksStore

SRC = str(Path(__file__).resolve().parents[2] / "src")

# Commits one module per iteration and prints "<id> <digest>" once commit() returned,
# i.e. once the write is acknowledged. Stops after argv[2] modules, leaving with
# os._exit so RocksDB gets no chance to flush or close: the writes live in the WAL only.
WRITER_SCRIPT = """
import asyncio, os, sys, uuid
sys.path.insert(0, {src!r})
from datetime import UTC, datetime
from wess.models import ModuleInfo, ModuleRecord, digest_of
from wess.storage import PutModule
from wess.storage.rocks import RocksStore

async def main(path, limit):
    repo = await RocksStore.open(path)
    for i in range(limit):
        module_id = uuid.uuid4()
        wasm = os.urandom(300 + i % 50)
        now = datetime.now(UTC)
        info = ModuleInfo(id=module_id, namespace="default", name=f"m{{i}}",
            digest=digest_of(wasm), size=len(wasm), revision=1, created_at=now,
            updated_at=now, functions=())
        await repo.commit([PutModule(ModuleRecord(info=info, wasm=wasm))])
        print(module_id, info.digest, flush=True)
    os._exit(0)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def run_writer(path: Path, *, limit: int, kill_after: int | None = None) -> dict[UUID, str]:
    """Run the writer subprocess; SIGKILL it once ``kill_after`` ids were acknowledged."""
    script = WRITER_SCRIPT.format(src=SRC)
    acknowledged: dict[UUID, str] = {}
    with subprocess.Popen(
        [sys.executable, "-c", script, str(path), str(limit)], stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:  # lines printed before the kill are still read
            module_id, digest = line.split()
            acknowledged[UUID(module_id)] = digest
            if kill_after is not None and len(acknowledged) == kill_after:
                os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    if kill_after is not None:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 0
    return acknowledged


def raw_options() -> Options:
    return Options(raw_mode=True)


def meta_keys(db: Rdict) -> int:
    return sum(
        1 for _ in itertools.takewhile(lambda k: k.startswith(b"m:"), db.keys(from_key=b"m:"))
    )


def flip_byte_inside(directory: Path, payload: bytes) -> None:
    """Flip one bit in the middle of ``payload`` where it sits in an SST file."""
    for sst in directory.glob("*.sst"):
        data = bytearray(sst.read_bytes())
        offset = data.find(payload)
        if offset >= 0:
            data[offset + len(payload) // 2] ^= 0x01
            sst.write_bytes(bytes(data))
            return
    raise AssertionError("the value should have been flushed into an SST file")


async def test_modules_survive_close_and_reopen(tmp_path: Path) -> None:
    """What a commit acknowledged is there, intact, after the store is closed and reopened."""
    records = [make_record(wasm=unique_wasm(str(i), 500)) for i in range(20)]
    repo = await RocksStore.open(tmp_path)
    await repo.commit([PutModule(r) for r in records[:10]])
    for record in records[10:]:
        await repo.commit([PutModule(record)])
    await repo.aclose()
    repo = await RocksStore.open(tmp_path)
    try:
        for record in records:
            assert await repo.modules.get(record.id) == record
        assert await repo.modules.count() == 20
    finally:
        await repo.aclose()


async def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """A writer killed with SIGKILL mid-stream keeps every id it printed after commit()."""
    acknowledged = run_writer(tmp_path, limit=100_000, kill_after=40)
    assert len(acknowledged) >= 40
    repo = await RocksStore.open(tmp_path)
    try:
        for module_id, digest in acknowledged.items():
            record = await repo.modules.get(module_id)
            assert record is not None, f"acknowledged module {module_id} was lost"
            assert record.digest == digest == digest_of(record.wasm)
    finally:
        await repo.aclose()


async def test_a_damaged_wal_refuses_to_open(tmp_path: Path) -> None:
    """A flipped byte in the WAL makes open fail with a clear message, not lose writes.

    The same damaged directory opened with RocksDB's default recovery mode,
    point_in_time, opens without complaint and silently drops every acknowledged
    write after the damage (measured: about half of the 50 records). absolute_consistency
    turns that silent loss into a refusal to start.
    """
    store = tmp_path / "db"
    acknowledged = run_writer(store, limit=50)
    assert len(acknowledged) == 50
    (log,) = store.glob("*.log")
    data = bytearray(log.read_bytes())
    assert len(data) > 10_000, "the writes should still be in the WAL only"
    data[len(data) // 2] ^= 0xFF
    log.write_bytes(bytes(data))
    shutil.copytree(store, tmp_path / "copy")

    with pytest.raises(StorageUnavailable) as caught:
        await RocksStore.open(store)
    message = str(caught.value)
    assert "damaged" in message
    assert "Corruption" in message
    assert "refused to start rather than drop acknowledged writes" in message

    lenient = raw_options()
    lenient.set_wal_recovery_mode(DBRecoveryMode.point_in_time())
    db = Rdict(str(tmp_path / "copy"), lenient)
    try:
        recovered = meta_keys(db)
    finally:
        db.close()
    assert recovered < 50, "point_in_time would have silently dropped acknowledged writes"


async def test_a_flipped_byte_in_an_sst_value_is_an_integrity_error(tmp_path: Path) -> None:
    """Damage to a value flushed into an SST file is caught; wrong bytes are never returned."""
    payload = os.urandom(5000)  # random: incompressible, so it sits in the file as written
    record = make_record(wasm=payload)
    repo = await RocksStore.open(tmp_path)
    await repo.commit([PutModule(record)])
    await repo.aclose()
    db = Rdict(str(tmp_path), raw_options())
    db.flush()
    db.close()
    flip_byte_inside(tmp_path, payload)

    repo = await RocksStore.open(tmp_path)
    try:
        with pytest.raises(IntegrityError, match=str(record.id)):
            await repo.modules.get(record.id)
    finally:
        await repo.aclose()


async def test_bytes_rewritten_behind_wess_fail_the_digest_check(tmp_path: Path) -> None:
    """Bytes that RocksDB holds intact but that are not the module's are caught by sha256."""
    record = make_record()
    repo = await RocksStore.open(tmp_path)
    await repo.commit([PutModule(record)])
    await repo.aclose()
    with raw_family(tmp_path, "modules") as db:
        db[b"w:" + str(record.id).encode()] = b"\0asm-but-not-these-bytes"
    repo = await RocksStore.open(tmp_path)
    try:
        with pytest.raises(IntegrityError) as caught:
            await repo.modules.get(record.id)
        assert record.digest in str(caught.value)
        assert digest_of(b"\0asm-but-not-these-bytes") in str(caught.value)
        # metadata reads never touch the bytes, so they still work
        assert await repo.modules.get_info(record.id) == record.info
        assert await repo.modules.count() == 1
    finally:
        await repo.aclose()


async def test_values_on_disk_are_the_raw_bytes_not_pickles(tmp_path: Path) -> None:
    """Plain rocksdict in raw mode reads back the wasm as written and the record as JSON."""
    record = make_record()
    repo = await RocksStore.open(tmp_path)
    await repo.commit([PutModule(record)])
    await repo.aclose()
    with raw_family(tmp_path, "modules") as db:
        key = str(record.id).encode()
        assert db[b"w:" + key] == record.wasm
        stored = orjson.loads(db[b"m:" + key])
        assert stored["schema_version"] == SCHEMA_VERSION
        assert stored["id"] == str(record.id)
        assert stored["digest"] == record.digest
    with raw_family(tmp_path, "system") as system:
        assert system[b"format"] == b"wess-rocks/3"
    assert json.loads((tmp_path / "WESS_FORMAT").read_text()) == {"format": "wess-rocks/3"}


async def test_a_record_from_a_newer_wess_is_refused(tmp_path: Path) -> None:
    """A record with a schema_version this Wess does not know raises IntegrityError."""
    record = make_record()
    repo = await RocksStore.open(tmp_path)
    await repo.commit([PutModule(record)])
    await repo.aclose()
    with raw_family(tmp_path, "modules") as db:
        key = b"m:" + str(record.id).encode()
        stored = orjson.loads(db[key])
        db[key] = orjson.dumps({**stored, "schema_version": SCHEMA_VERSION + 1})
    repo = await RocksStore.open(tmp_path)
    try:
        with pytest.raises(IntegrityError, match="schema_version"):
            await repo.modules.get_info(record.id)
    finally:
        await repo.aclose()


async def test_a_directory_of_foreign_rocksdb_data_is_refused(tmp_path: Path) -> None:
    """A RocksDB that is not a Wess store (no format marker) is not adopted."""
    with Rdict(str(tmp_path), raw_options()) as db:
        db[b"someone"] = b"else's data"
    with pytest.raises(StorageUnavailable, match="format marker"):
        await RocksStore.open(tmp_path)


async def test_a_store_already_open_is_unavailable(tmp_path: Path) -> None:
    """Opening a directory another handle holds fails with StorageUnavailable (the lock)."""
    repo = await RocksStore.open(tmp_path)
    try:
        with pytest.raises(StorageUnavailable, match="cannot open"):
            await RocksStore.open(tmp_path)
    finally:
        await repo.aclose()
