"""Every contract suite runs against every backend, opened through the factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.storage.builders import OLD
from wess.security.crypto import Keyring
from wess.storage import Store, open_store

URLS: dict[str, Callable[[Path], str]] = {
    "memory": lambda tmp: "memory://",
    "rocksdb": lambda tmp: f"rocksdb://{tmp / 'db'}",
}


@pytest.fixture(params=sorted(URLS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(URLS[request.param](tmp_path)) as opened:
        yield opened


@pytest.fixture(params=sorted(URLS))
async def sealed(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store that seals module bytes and artifacts under ``OLD``."""
    async with open_store(URLS[request.param](tmp_path), keyring=Keyring(OLD)) as opened:
        yield opened
