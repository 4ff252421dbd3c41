"""Fixtures for the security tests, and the one rule for tests that need a real service."""

from __future__ import annotations

import os
import secrets
import socket

import pytest

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def require_service(name: str, host: str, port: int) -> None:
    """Skip the test when ``host:port`` does not answer, or fail if WESS_REQUIRE_SERVICES=1.

    CI sets WESS_REQUIRE_SERVICES=1 so that a missing service fails loudly instead of
    quietly skipping the tests that need it.
    """
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return
    except OSError as exc:
        reason = f"{name} is not reachable on {host}:{port} ({exc.strerror or exc})"
    if os.environ.get("WESS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and WESS_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)


@pytest.fixture
def redis_url():
    """A Redis URL and a key prefix of the test's own; keys under the prefix are removed after."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    import redis

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
    prefix = f"wess-test-{secrets.token_hex(6)}"
    yield url, prefix
    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
