"""Asynchronous invocations in a real server: accepted ones survive kill -9 and finish
after the restart."""

from __future__ import annotations

import pytest

from tests.fixtures import wasm
from tests.support import eventually

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}
CALLS = 12
BURN = 20_000_000
"""Iterations per call: long enough that the queue is not empty when the server dies."""


def test_queued_invocations_survive_kill_9_and_finish_after_restart(server_factory):
    """Every invocation answered 202 before kill -9 is there after the restart, and each
    ends succeeded with its result (one node, one at a time, a short lease)."""
    env = {"WESS_INVOCATIONS_CONCURRENCY": "1", "WESS_INVOCATIONS_LEASE": "1"}
    server = server_factory(**env)
    with server.client() as client:
        module = client.post("/v1/modules", content=wasm("burn"), headers=WASM).json()["id"]
        locations = []
        for _ in range(CALLS):
            response = client.post(
                f"/v1/modules/{module}/invocations", json={"function": "burn", "args": [BURN]}
            )
            assert response.status_code == 202, response.text
            locations.append(response.headers["location"])
    server.kill()

    again = server_factory(**env)
    with again.client() as client:

        def all_succeeded() -> list[dict] | None:
            documents = [client.get(location).json() for location in locations]
            if all(d["state"] == "succeeded" for d in documents):
                return documents
            assert not [d for d in documents if d["state"] in ("failed", "dead")], documents
            return None

        documents = eventually(all_succeeded, "every invocation succeeded", settle=120)
    assert [d["result"]["results"] for d in documents] == [[BURN]] * CALLS
