"""The real ASGI app over real components (memory store unless a test asks for RocksDB)."""

from __future__ import annotations

import tempfile
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
    """Memory storage; files (the admin key) in a fresh temporary directory."""
    base = {
        "WESS_DATABASE_URL": "memory://",
        "WESS_DB_PATH": tempfile.mkdtemp(prefix="wess-api-"),
        "WESS_RUNNER_TIMEOUT": "2000",
    }
    return load_settings(env={**base, **env}).settings


def admin_token(settings: Settings) -> str:
    """The token of the admin key minted on first start."""
    return (settings.database.path / "admin.key").read_text().strip()


@asynccontextmanager
async def open_client(
    settings: Settings, *, as_admin: bool = True, client_ip: str = "203.0.113.7"
) -> AsyncIterator[httpx.AsyncClient]:
    """The app over real components; by default authenticated as the bootstrap admin."""
    metrics = Metrics()
    async with open_state(settings, metrics=metrics) as state:
        app = create_app(state, access_log=None)
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        headers = {}
        if as_admin and settings.auth.enabled:
            headers["authorization"] = f"Bearer {admin_token(settings)}"
        async with httpx.AsyncClient(
            transport=transport, base_url="http://wess", headers=headers
        ) as client:
            client.state = state  # type: ignore[attr-defined]
            client.settings = settings  # type: ignore[attr-defined]
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
