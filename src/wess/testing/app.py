"""A started Wess for tests: the real ASGI app over real components, in process.

``test_settings`` gives a memory store and a fresh temporary data directory;
``open_client`` opens every part as ``wess serve`` does (storage, workers, security)
and hands back an ``httpx.AsyncClient`` that talks to the app without a socket,
authenticated as the bootstrap admin unless told otherwise.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from wess.api.app import create_app
from wess.api.state import ApiState
from wess.config import Settings, load_settings
from wess.config.live import LiveSettings
from wess.observability.logging import AccessLog
from wess.observability.metrics import Metrics
from wess.observability.tracing import Tracing
from wess.security.bootstrap import ADMIN_KEY_FILE
from wess.server import open_state
from wess.server.listening import address_of
from wess.server.serving import site_policy


def test_settings(**env: str) -> Settings:
    """Settings for a test: a memory store, files (the admin key) in a fresh temporary
    directory, a 2 s call timeout; ``env`` holds ``WESS_*`` overrides."""
    base = {
        "WESS_DATABASE_URL": "memory://",
        "WESS_DB_PATH": tempfile.mkdtemp(prefix="wess-test-"),
        "WESS_RUNNER_TIMEOUT": "2000",
    }
    return load_settings(env={**base, **env}).settings


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a test for pytest


def admin_token(settings: Settings) -> str:
    """The token of the admin key minted on the first start with ``settings``."""
    return (settings.database.path / ADMIN_KEY_FILE).read_text().strip()


class TestClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` of a started app, with the app's parts at hand."""

    __test__ = False  # not a test class for pytest

    def __init__(self, *, state: ApiState, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state
        self.settings = settings


@asynccontextmanager
async def open_client(
    settings: Settings | None = None,
    *,
    as_admin: bool = True,
    client_ip: str = "203.0.113.7",
    tracing: Tracing | None = None,
    live: LiveSettings | None = None,
    access_log: AccessLog | None = None,
) -> AsyncIterator[TestClient]:
    """The app over real components, opened for the ``async with`` block and closed
    after; requests come from ``client_ip``, go to the configured address (``server.host``
    and ``server.port``, as if bound there) and, with ``as_admin`` and authentication
    on, carry the bootstrap admin's key. ``tracing`` makes spans (``wess.testing.tracing``
    records them in memory); None: tracing is off. The parts follow ``live`` (a reload)
    when given. ``access_log`` writes a line per request (None: none)."""
    settings = settings or test_settings()
    metrics = Metrics(per_module=settings.metrics.per_module)
    async with open_state(settings, metrics=metrics, tracing=tracing, live=live) as state:
        server = settings.server
        sites = site_policy(settings, port=server.port)
        app = create_app(state, sites=sites, access_log=access_log)
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        headers = {}
        if as_admin and settings.auth.enabled:
            headers["authorization"] = f"Bearer {admin_token(settings)}"
        async with TestClient(
            state=state,
            settings=settings,
            transport=transport,
            base_url=f"http://{address_of(server.host, server.port)}",
            headers=headers,
        ) as client:
            yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The RFC 9457 problem document of ``response``, after checking that it is one with
    this ``status`` and Wess ``code`` (and the request id, and no traceback)."""
    problems: list[str] = []
    if response.status_code != status:
        problems.append(f"status {response.status_code}, expected {status}")
    if response.headers.get("content-type") != "application/problem+json":
        problems.append(f"content-type {response.headers.get('content-type')!r}")
    body: dict[str, Any] = response.json() if not problems else {}
    if body:
        expected = {"status": status, "code": code, "type": f"urn:wess:problem:{code}"}
        problems += [f"{k} {body.get(k)!r}" for k, v in expected.items() if body.get(k) != v]
        problems += [f"no {k}" for k in ("title", "detail") if not body.get(k)]
        if body.get("request_id") != response.headers.get("x-request-id"):
            problems.append("request_id differs from X-Request-ID")
    if "Traceback" in response.text:
        problems.append("a traceback in the body")
    if problems:
        raise AssertionError(f"not the expected problem ({'; '.join(problems)}): {response.text}")
    return body
