"""RocksDB options from the storage URL: ``?max_open_files=N`` reaches RocksDB itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from wess.errors import ConfigError
from wess.storage import open_store


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
