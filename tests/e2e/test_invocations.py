"""Asynchronous invocations in a real server: accepted ones survive kill -9 and finish
after the restart."""

from __future__ import annotations

import pytest

from tests.fixtures import wasm
from tests.support import eventually

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}
CALLS = 8
BURN = 1_000_000


def test_queued_invocations_survive_kill_9_and_finish_after_restart(server_factory):
    """One worker slot held by a call that spins to its time limit keeps the others
    queued; kill -9 then. After the restart every invocation answered 202 is there and
    ends: the spinning one failed (timeout), the others succeeded with their results."""
    env = {
        "WESS_INVOCATIONS_CONCURRENCY": "1",
        "WESS_INVOCATIONS_LEASE": "1",
        "WESS_RUNNER_TIMEOUT": "1000",
        # the test polls every invocation every 20 ms until all end: not what limits test
        "WESS_RATELIMIT_PER_IP": "1000000/minute",
        "WESS_RATELIMIT_PER_KEY": "1000000/minute",
    }
    server = server_factory(**env)
    with server.client() as client:
        traps = client.post("/v1/modules", content=wasm("traps"), headers=WASM).json()["id"]
        burn = client.post("/v1/modules", content=wasm("burn"), headers=WASM).json()["id"]
        spin = client.post(f"/v1/modules/{traps}/invocations", json={"function": "spin"})
        assert spin.status_code == 202, spin.text
        locations = []
        for _ in range(CALLS):
            response = client.post(
                f"/v1/modules/{burn}/invocations", json={"function": "burn", "args": [BURN]}
            )
            assert response.status_code == 202, response.text
            locations.append(response.headers["location"])
        states = [client.get(location).json()["state"] for location in locations]
        assert "queued" in states  # the spinning call holds the only slot
    server.kill()

    again = server_factory(**env)
    with again.client() as client:

        def all_finished() -> list[dict] | None:
            documents = [client.get(location).json() for location in locations]
            spun = client.get(spin.headers["location"]).json()
            finished = ("succeeded", "failed", "dead")
            if spun["state"] in finished and all(d["state"] in finished for d in documents):
                return [spun, *documents]
            return None

        spun, *documents = eventually(all_finished, "every invocation finished", settle=120)
    assert spun["state"] == "failed"
    assert spun["error"]["code"] == "timeout"
    assert [d["state"] for d in documents] == ["succeeded"] * CALLS
    assert [d["result"]["results"] for d in documents] == [[BURN]] * CALLS
