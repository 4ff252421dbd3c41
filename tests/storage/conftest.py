"""Every contract suite runs against every backend, opened through the factory: memory,
RocksDB in a temporary directory, and PostgreSQL on 127.0.0.1:5432 in a schema of the
test's own, dropped after (skipped, or failed under WESS_REQUIRE_SERVICES=1, when the
server is not there)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.storage.builders import OLD
from tests.support import postgres_schema
from wess.security.crypto import Keyring
from wess.storage import Store, open_store

BACKENDS = ("memory", "rocksdb", "postgresql")


@contextlib.asynccontextmanager
async def opened(
    backend: str, tmp_path: Path, keyring: Keyring | None = None
) -> AsyncIterator[Store]:
    """A fresh store of ``backend``, closed (and its schema dropped) afterwards."""
    if backend == "postgresql":
        with postgres_schema(f"t_{secrets.token_hex(6)}") as url:
            async with open_store(url, keyring=keyring) as store:
                yield store
        return
    url = "memory://" if backend == "memory" else f"rocksdb://{tmp_path / 'db'}"
    async with open_store(url, keyring=keyring) as store:
        yield store


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with opened(request.param, tmp_path) as fresh:
        yield fresh


@pytest.fixture(params=BACKENDS)
async def sealed(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store that seals module bytes and artifacts under ``OLD``."""
    async with opened(request.param, tmp_path, keyring=Keyring(OLD)) as fresh:
        yield fresh
