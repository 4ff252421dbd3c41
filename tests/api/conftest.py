"""The real ASGI app over real components (memory store unless a test asks for RocksDB)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.fixtures import wasm
from wess.api.app import create_app
from wess.config import Settings, load_settings
from wess.observability.metrics import Metrics
from wess.server import open_state


def make_settings(**env: str) -> Settings:
    base = {"WESS_DATABASE_URL": "memory://", "WESS_RUNNER_TIMEOUT": "2000"}
    return load_settings(env={**base, **env}).settings


@asynccontextmanager
async def open_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    metrics = Metrics()
    async with open_state(settings, metrics=metrics) as state:
        app = create_app(state, access_log=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://wess") as client:
            client.state = state  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with open_client(make_settings()) as client:
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


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and Wess code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:wess:problem:{code}"
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body
