"""The real ASGI app over real components (memory store unless a test asks for RocksDB),
started by ``wess.testing``."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures import wasm
from tests.support import postgres_schema
from wess.testing import open_client, test_settings


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with open_client(test_settings()) as client:
        yield client


@pytest.fixture(params=["memory", "rocksdb", "postgresql"])
async def any_store_client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The app over each backend in turn; modules whose every test should hold on every
    store define ``client`` as this."""
    if request.param == "postgresql":
        with postgres_schema(f"t_{secrets.token_hex(6)}") as url:
            async with open_client(test_settings(WESS_DATABASE_URL=url)) as client:
                yield client
        return
    env = (
        {}
        if request.param == "memory"
        else {"WESS_DATABASE_URL": "", "WESS_DB_PATH": str(tmp_path / "db")}
    )
    async with open_client(test_settings(**env)) as client:
        yield client


@pytest.fixture
def upload(client: httpx.AsyncClient) -> Callable[..., Any]:
    """Upload a fixture module through /v1 and return the resource document."""

    async def _upload(name: str, **params: str) -> dict[str, Any]:
        response = await client.post(
            "/v1/modules",
            content=wasm(name),
            params=params,
            headers={"content-type": "application/wasm"},
        )
        assert response.status_code == 201, response.text
        document: dict[str, Any] = response.json()
        return document

    return _upload
