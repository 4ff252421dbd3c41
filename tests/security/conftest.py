"""Fixtures for the security tests."""

from __future__ import annotations

import secrets

import pytest

from tests.support import require_service

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


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
