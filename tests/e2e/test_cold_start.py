"""A real server process: a restart starts warm, from artifacts, without compiling."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fixtures import wasm
from tests.fixtures.generated import slow_to_compile

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}


def series(client: httpx.Client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_restart_warms_up_from_artifacts(server_factory):
    """Runs counted before a graceful stop make the module warm after the restart:
    /readyz reports the warm-up, and nothing compiles in the new process."""
    server = server_factory()
    with server.client() as client:
        module = client.post("/v1/modules", content=wasm("sum"), headers=WASM).json()
        for _ in range(3):
            assert client.post(f"/v1/modules/{module['id']}/run", json={"args": [1, 2]}).is_success
    assert server.stop() == 0

    again = server_factory()
    with again.client() as client:
        deadline = time.monotonic() + 10
        while (warmup := client.get("/readyz").json()["warmup"])["state"] != "done":
            assert time.monotonic() < deadline, warmup
            time.sleep(0.02)
        assert warmup == {"state": "done", "loaded": 1, "skipped": 0, "total": 1}
        run = client.post(f"/v1/modules/{module['id']}/run", json={"args": [2, 3]})
        assert run.json()["results"] == [5]
        assert series(client, "wess_compile_duration_seconds_count") == 0
        assert series(client, 'wess_artifacts_total{outcome="hit"}') == 1
    assert again.stop() == 0


def test_a_capped_compile_leaves_the_server_healthy(server_factory):
    """A module over the compile CPU cap is 422; the compile worker is replaced and the
    same process goes on accepting and running modules, then stops cleanly."""
    server = server_factory(WESS_LIMITS_COMPILE_CPU_SECONDS="1")
    with server.client(timeout=60) as client:
        refused = client.post("/v1/modules", content=slow_to_compile(), headers=WASM)
        assert refused.status_code == 422
        assert refused.json()["code"] == "compile_limit_exceeded"
        assert refused.json()["resource"] == "cpu_seconds"
        assert client.get("/readyz").status_code == 200
        module = client.post("/v1/modules", content=wasm("sum"), headers=WASM).json()
        run = client.post(f"/v1/modules/{module['id']}/run", json={"args": [4, 5]})
        assert run.json()["results"] == [9]
    assert server.stop() == 0
