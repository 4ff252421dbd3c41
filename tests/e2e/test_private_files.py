"""Wess's files are its owner's only: the data directory 0700, every file in it 0600."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.fixtures import wasm
from tests.support import ServerProcess

pytestmark = pytest.mark.e2e


def loose(directory: Path) -> list[str]:
    """Paths under ``directory`` (itself included) that group or others may access."""
    return [
        f"{path} {stat.S_IMODE(path.stat().st_mode):o}"
        for path in [directory, *directory.rglob("*")]
        if stat.S_IMODE(path.stat().st_mode) & 0o077
    ]


def test_the_data_directory_and_every_file_wess_writes_are_private(tmp_path: Path) -> None:
    """A data directory left 0755 with a 0644 file is tightened at start; everything the
    server (and RocksDB) writes afterwards is created private, modules included."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "notes.txt").write_text("left by an operator")
    (data / "notes.txt").chmod(0o644)
    server = ServerProcess(data_dir=data, log_path=tmp_path / "wess.log").start()
    with server.client() as client:
        for _ in range(3):
            assert (
                client.post(
                    "/v1/modules", content=wasm("sum"), headers={"content-type": "application/wasm"}
                ).status_code
                == 201
            )
    assert server.stop() == 0
    assert loose(data) == []
    assert "data directory made private" in server.log()
    assert any(data.rglob("*.sst")) or any(data.rglob("*.log"))  # RocksDB wrote files
