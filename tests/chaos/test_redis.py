"""Redis rate limits while Redis hangs, dies and comes back, under load.

A Redis of the test's own (``redis-server`` on a port the OS chose; the machine's shared
one is never touched) holds the rate-limit counters. Clients keep running a module
while Redis is frozen (SIGSTOP: connections hang), killed (SIGKILL: refused) and
started again. The documented policy holds throughout: ``open`` answers every request
(counted in this process instead), ``closed`` refuses with 503
``ratelimit_unavailable``; no request waits past its bound, and once Redis is back the
breaker's probe finds it and requests are counted there again.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.fixtures import wasm
from tests.support import free_port
from wess.testing import TestClient, open_client, test_settings

pytestmark = pytest.mark.chaos
WASM = {"content-type": "application/wasm"}
CLIENTS = 6
HANG_BOUND = 5.0
"""Seconds after which a request counts as hung (Redis calls are bounded by 200 ms)."""


@dataclass
class Redis:
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()


@pytest.fixture
def redis() -> Iterator[Redis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = Redis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass
class Load:
    """Clients running a module in a loop; what they were answered, and how slowly."""

    client: TestClient
    url: str
    answers: dict[str, int] = field(default_factory=dict)
    slowest: float = 0.0
    running: bool = True

    async def one_client(self) -> None:
        while self.running:
            started = time.monotonic()
            response = await asyncio.wait_for(
                self.client.post(self.url, json={"args": [2, 3]}), HANG_BOUND
            )
            self.slowest = max(self.slowest, time.monotonic() - started)
            key = str(response.status_code)
            if response.status_code != 200:
                key += " " + response.json().get("code", "")
            self.answers[key] = self.answers.get(key, 0) + 1
            await asyncio.sleep(0.01)

    async def phase(self, seconds: float) -> dict[str, int]:
        """Run the clients for ``seconds``; what they were answered in that time."""
        self.answers, self.running = {}, True
        tasks = [asyncio.create_task(self.one_client()) for _ in range(CLIENTS)]
        await asyncio.sleep(seconds)
        self.running = False
        await asyncio.gather(*tasks)
        return self.answers


async def degraded(client: TestClient) -> float:
    """Rate-limit checks Redis could not answer so far (read from the registry: under
    the closed policy, /metrics itself is refused while Redis is out)."""
    counter = client.state.metrics.ratelimit_degraded
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


@pytest.mark.parametrize("policy", ["open", "closed"])
async def test_redis_frozen_killed_and_back_under_load(redis, policy, record, level):
    settings = test_settings(
        WESS_RATELIMIT_STORAGE=f"redis://127.0.0.1:{redis.port}",
        WESS_RATELIMIT_ON_REDIS_FAILURE=policy,
        WESS_RATELIMIT_REDIS_TIMEOUT_MS="200",
        WESS_RATELIMIT_BREAKER_FAILURES="3",
        WESS_RATELIMIT_BREAKER_COOLDOWN="0.3",
        WESS_RATELIMIT_PER_IP="1000000/minute",
        WESS_RATELIMIT_PER_KEY="1000000/minute",
    )
    async with open_client(settings) as client:
        created = await client.post("/v1/modules", content=wasm("sum"), headers=WASM)
        assert created.status_code == 201, created.text
        load = Load(client, f"/v1/modules/{created.json()['id']}/run")
        scale = 3.0 if level.full else 1.0
        healthy = await load.phase(0.3 * scale)
        assert set(healthy) == {"200"}, healthy

        redis.signal(signal.SIGSTOP)
        frozen = await load.phase(0.8 * scale)
        redis.kill()
        dead = await load.phase(0.5 * scale)
        if policy == "open":
            assert set(frozen) == set(dead) == {"200"}, (frozen, dead)
        else:
            assert set(frozen) <= {"200", "503 ratelimit_unavailable"}, frozen
            assert set(dead) == {"503 ratelimit_unavailable"}, dead
        assert await degraded(client) > 0

        redis.start()
        await load.phase(0.6 * scale)  # the breaker's cool-down passes, a probe finds Redis
        before = await degraded(client)
        back = await load.phase(0.3 * scale)
        assert set(back) == {"200"}, back
        assert await degraded(client) == before  # counted in Redis again
    record(
        scenario=f"redis {policy}",
        frozen=frozen,
        dead=dead,
        slowest_s=round(load.slowest, 3),
    )
