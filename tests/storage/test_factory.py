"""open_store: one table from URL scheme to backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.storage.builders import make_record
from wess.errors import ConfigError, StorageUnavailable
from wess.storage import BACKENDS, PutModule, open_store
from wess.storage.memory import MemoryStore
from wess.storage.rocks import RocksStore


async def test_memory_scheme_opens_a_memory_repository() -> None:
    """memory:// gives a MemoryStore, closed when the block ends."""
    async with open_store("memory://") as repository:
        assert isinstance(repository, MemoryStore)
        await repository.ping()
    with pytest.raises(StorageUnavailable):
        await repository.ping()


async def test_rocksdb_absolute_path(tmp_path: Path) -> None:
    """rocksdb:///abs/path opens RocksDB in that directory; data survives a reopen."""
    record = make_record()
    url = f"rocksdb://{tmp_path / 'store'}"
    async with open_store(url) as repository:
        assert isinstance(repository, RocksStore)
        await repository.commit([PutModule(record)])
    async with open_store(url) as repository:
        assert await repository.modules.get(record.id) == record
    assert (tmp_path / "store" / "CURRENT").exists()


async def test_rocksdb_single_slash_absolute_path(tmp_path: Path) -> None:
    """rocksdb:/abs/path (the form config builds from a path) is absolute too."""
    async with open_store(f"rocksdb:{tmp_path / 'db'}") as repository:
        await repository.ping()
    assert (tmp_path / "db" / "CURRENT").exists()


async def test_rocksdb_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rocksdb:relative/path is relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    async with open_store("rocksdb:data/db") as repository:
        await repository.ping()
    assert (tmp_path / "data" / "db" / "CURRENT").exists()


async def test_unknown_scheme_names_it_and_the_allowed_ones() -> None:
    """An unknown scheme is a ConfigError listing what is allowed."""
    with pytest.raises(ConfigError) as caught:
        async with open_store("mysql://localhost/wess"):
            pass
    message = str(caught.value)
    assert "'mysql'" in message
    for scheme in BACKENDS:
        assert f"{scheme}:" in message


@pytest.mark.parametrize("url", ["rocksdb://host/path", "rocksdb:", "memory://somewhere"])
async def test_malformed_locations_are_config_errors(url: str) -> None:
    """A RocksDB URL with a host or without a path, or memory with a location, is refused."""
    with pytest.raises(ConfigError):
        async with open_store(url):
            pass


def test_the_backend_table_lists_every_scheme() -> None:
    """The table is the single place that knows the schemes."""
    assert sorted(BACKENDS) == ["memory", "postgres", "postgresql", "rocksdb"]


async def test_an_unreachable_postgresql_is_unavailable_naming_it() -> None:
    """A database no one answers at is StorageUnavailable, its password not in the text."""
    from tests.support import free_port

    url = f"postgresql://wess:hunter2@127.0.0.1:{free_port()}/none"
    with pytest.raises(StorageUnavailable) as caught:
        async with open_store(url):
            pass
    assert "hunter2" not in str(caught.value)
    assert "unavailable" in str(caught.value)


async def test_a_postgresql_schema_must_be_a_plain_identifier() -> None:
    """The schema is named in the URL; anything but an identifier is a ConfigError."""
    with pytest.raises(ConfigError, match="plain identifier"):
        async with open_store("postgresql://127.0.0.1/test?schema=a;drop"):
            pass
