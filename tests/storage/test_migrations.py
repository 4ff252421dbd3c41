"""Migrations of the RocksDB store: a store in the previous format (built here, byte for
byte) refused until migrated, then read back whole; a migration cut short resumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.storage.builders import (
    artifact_of,
    format1_store,
    make_entries,
    make_key,
    make_record,
    unique_wasm,
)
from tests.support import flush_families, raw_family
from wess.errors import MigrationRequired, StorageUnavailable
from wess.storage import PutModule
from wess.storage.rocks import RocksStore
from wess.storage.rocks.layout import FORMAT_FILE
from wess.storage.rocks.migrations import migrate, v2_column_families


def a_format1_store(path: Path) -> dict[str, Any]:
    records = [make_record(wasm=unique_wasm(str(i), 300), namespace=f"ns{i % 3}") for i in range(7)]
    artifacts = [(records[0].id, artifact_of(records[0], data=b"image" * 50))]
    usage = [(records[1].id, 41), (records[2].id, 7)]
    keys = [make_key(f"{i:016x}") for i in range(3)]
    entries = make_entries(5)
    format1_store(
        path, records=records, artifacts=artifacts, usage=usage, keys=keys, entries=entries
    )
    return {
        "records": records,
        "artifacts": artifacts,
        "usage": usage,
        "keys": keys,
        "entries": entries,
    }


async def assert_everything_is_there(path: Path, written: dict[str, Any]) -> None:
    store = await RocksStore.open(path)
    try:
        for record in written["records"]:
            assert await store.modules.get(record.id) == record
            # format 3: the current content is the one retained revision; names indexed
            assert await store.modules.get_revision(record.id, record.info.revision) == record
            assert await store.modules.find(record.info.namespace, record.info.name) == record.id
        assert await store.modules.count() == len(written["records"])
        assert await store.modules.count(namespace="ns1") == 2
        ((module_id, artifact),) = written["artifacts"]
        found = await store.modules.get_artifact(
            module_id, digest=artifact.digest, flavor=artifact.flavor
        )
        assert found == artifact
        assert await store.usage.most_used(10) == written["usage"]
        assert await store.keys.list() == sorted(written["keys"], key=lambda k: k.id)
        assert await store.audit.list(after=0, limit=100) == written["entries"]
        assert await store.audit.head() == written["entries"][-1]
    finally:
        await store.aclose()


async def test_a_store_in_the_previous_format_is_refused_until_migrated(tmp_path: Path) -> None:
    """Opening it names the command; a dry run lists the step and changes nothing; the
    migration moves every record, which then reads back equal; a second run does nothing."""
    written = a_format1_store(tmp_path)
    with pytest.raises(MigrationRequired, match=f"wess migrate --data-dir {tmp_path}"):
        await RocksStore.open(tmp_path)
    found, steps, applied = migrate(str(tmp_path), dry_run=True)
    targets = [b"wess-rocks/2", b"wess-rocks/3"]
    assert (found, [s.target for s in steps], applied) == (b"wess-rocks/1", targets, [])
    with pytest.raises(MigrationRequired):
        await RocksStore.open(tmp_path)
    found, steps, applied = migrate(str(tmp_path))
    assert [done.records for done in applied] == [7 * 3 + 1 + 2 + 3 + 5, 7]
    await assert_everything_is_there(tmp_path, written)
    assert migrate(str(tmp_path))[1] == []
    with raw_family(tmp_path) as default:
        assert list(default.keys()) == []  # the old layout is gone


class CrashAfter:
    """A database whose ``write`` dies after ``writes`` synced batches."""

    def __init__(self, db: Any, writes: int) -> None:
        self._db = db
        self._left = writes

    def write(self, batch: Any, options: Any) -> None:
        if not self._left:
            raise SystemExit("crash")
        self._db.write(batch, options)
        self._left -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


@pytest.mark.parametrize("crash_after", [0, 1, 3])
async def test_a_migration_cut_short_resumes_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_after: int
) -> None:
    """A crash after any synced batch leaves a store that is still refused, and the next
    migration finishes it: every record there, none twice."""
    written = a_format1_store(tmp_path)
    monkeypatch.setattr(v2_column_families, "CHUNK", 5)
    real = v2_column_families.apply
    monkeypatch.setattr(
        "wess.storage.rocks.migrations.STEPS",
        tuple(
            type(step)(
                step.source, step.target, step.summary, lambda db: real(CrashAfter(db, crash_after))
            )
            for step in __import__("wess.storage.rocks.migrations", fromlist=["STEPS"]).STEPS
        ),
    )
    with pytest.raises(SystemExit):
        migrate(str(tmp_path))
    monkeypatch.undo()
    with pytest.raises(MigrationRequired):
        await RocksStore.open(tmp_path)
    migrate(str(tmp_path))
    await assert_everything_is_there(tmp_path, written)


async def test_a_key_no_wess_wrote_stops_the_migration_naming_it(tmp_path: Path) -> None:
    """A format-1 store holding a foreign key is not half-migrated past it."""
    format1_store(tmp_path, records=[make_record()], extra={b"zz:mystery": b"?"})
    with pytest.raises(StorageUnavailable, match="zz:mystery"):
        migrate(str(tmp_path))
    with pytest.raises(MigrationRequired):
        await RocksStore.open(tmp_path)


async def test_a_store_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    """A format this Wess does not know is refused, saying a newer Wess wrote it."""
    store = await RocksStore.open(tmp_path)
    await store.aclose()
    with raw_family(tmp_path, "system") as system:
        system[b"format"] = b"wess-rocks/9"
    with pytest.raises(StorageUnavailable, match="newer Wess"):
        await RocksStore.open(tmp_path)


async def test_a_damaged_format_record_is_read_from_its_copy(tmp_path: Path) -> None:
    """The format marker's block damaged on disk: the store opens all the same, from the
    copy beside it, and serves its modules."""
    record = make_record()
    store = await RocksStore.open(tmp_path)
    await store.commit([PutModule(record)])
    await store.aclose()
    flush_families(tmp_path)
    assert damage_every_copy_of(tmp_path, b"wess-rocks/3") == 1
    assert (tmp_path / FORMAT_FILE).exists()
    store = await RocksStore.open(tmp_path)
    try:
        assert await store.modules.get(record.id) == record
        await store.ping()  # healthy: the copy stands in for the damaged record
    finally:
        await store.aclose()


def damage_every_copy_of(directory: Path, needle: bytes) -> int:
    """Flip a bit inside ``needle`` in every SST file holding it; how many were hit."""
    damaged = 0
    for sst in directory.glob("*.sst"):
        data = bytearray(sst.read_bytes())
        offset = data.find(needle)
        if offset >= 0:
            data[offset + 3] ^= 0x01
            sst.write_bytes(bytes(data))
            damaged += 1
    return damaged
