"""RocksDB options from the storage URL: ``?max_open_files=N`` reaches RocksDB itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.storage.builders import make_record, unique_wasm
from wess.errors import ConfigError
from wess.storage import PutModule, open_store
from wess.storage.rocks.database import BLOCK_CACHE_BYTES, open_database
from wess.storage.rocks.layout import FAMILIES


def max_open_files_in_use(directory: Path) -> str:
    """The max_open_files RocksDB recorded in its newest OPTIONS file."""
    newest = max(directory.glob("OPTIONS-*"), key=lambda p: int(p.name.split("-")[1]))
    line = next(ln for ln in newest.read_text().splitlines() if "max_open_files=" in ln)
    return line.split("=", 1)[1].strip()


@pytest.mark.parametrize(("query", "expected"), [("", "-1"), ("?max_open_files=1000", "1000")])
async def test_max_open_files_goes_to_rocksdb(tmp_path: Path, query: str, expected: str) -> None:
    """Without the option RocksDB keeps every file open (-1); with it, the given cap."""
    async with open_store(f"rocksdb:{tmp_path}{query}") as repository:
        await repository.ping()
    assert max_open_files_in_use(tmp_path) == expected


@pytest.mark.parametrize(
    "query", ["?max_open_files=many", "?cache=1", "?max_open_files=1&max_open_files=2", "?x"]
)
async def test_other_url_options_are_refused(tmp_path: Path, query: str) -> None:
    """Anything but one whole-number max_open_files is a ConfigError naming the option."""
    with pytest.raises(ConfigError, match="max_open_files"):
        async with open_store(f"rocksdb:{tmp_path}{query}"):
            pass


def test_every_column_family_shares_one_bounded_block_cache(tmp_path: Path) -> None:
    """RocksDB gives each family its own 32 MB block cache unless told otherwise, so a
    store read widely grew by up to 32 MB per family; every family here reports the one
    shared cache of BLOCK_CACHE_BYTES."""
    db = open_database(str(tmp_path))
    try:
        families = [db.get_column_family(name) for name in FAMILIES]
        try:
            capacities = {f.property_int_value("rocksdb.block-cache-capacity") for f in families}
        finally:
            for family in families:
                family.close()
        assert capacities == {BLOCK_CACHE_BYTES}
        assert db.property_int_value("rocksdb.block-cache-capacity") == BLOCK_CACHE_BYTES
    finally:
        db.close()


async def test_the_store_reports_its_engine_memory_by_kind(tmp_path: Path) -> None:
    """``admin.memory()`` (wess_storage_memory_bytes) names RocksDB's memtables, block
    cache and table readers; what is written shows up in the memtables."""
    async with open_store(f"rocksdb:{tmp_path}") as store:
        before = store.admin.memory()
        assert set(before) == {"memtables", "block_cache", "table_readers"}
        records = [make_record(wasm=unique_wasm(str(n), 4096)) for n in range(32)]
        await store.commit([PutModule(record) for record in records])
        after = store.admin.memory()
        assert after["memtables"] >= before["memtables"] + 32 * 4096
        assert 0 <= after["block_cache"] <= BLOCK_CACHE_BYTES
