"""The real ASGI app over real components (memory store unless a test asks for RocksDB),
started by ``wess.testing``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.fixtures import wasm
from wess.testing import open_client, test_settings


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with open_client(test_settings()) as client:
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
