"""Asynchronous invocations through the API: 202 and Location, the state read back,
idempotency, validation, and tenant isolation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.security_helpers import bearer, mint, upload_as
from wess.testing import assert_problem

ROUNDS = 400
"""Looks at an invocation before a test gives up on it finishing (a hang is a failure,
not a measurement)."""


async def finished(client: httpx.AsyncClient, location: str, **kwargs: Any) -> dict[str, Any]:
    for _ in range(ROUNDS):
        response = await client.get(location, **kwargs)
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        if document["state"] not in ("queued", "running"):
            return document
        await asyncio.sleep(0.01)
    raise AssertionError(f"{location} never finished")


async def test_invocation_is_accepted_then_succeeds(client, upload):
    """202 with Location; the invocation reads back queued or running, then succeeded
    with the run's answer."""
    module = await upload("sum")
    response = await client.post(
        f"/v1/modules/{module['id']}/invocations", json={"function": "sum", "args": [20, 22]}
    )
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    assert location == f"/v1/invocations/{response.json()['id']}"
    assert response.json()["state"] == "queued"
    done = await finished(client, location)
    assert done["state"] == "succeeded"
    assert done["result"]["results"] == [42]
    assert done["attempts"] == 1
    assert "expires_at" in done


async def test_failures_and_dead_letters_read_back_with_their_error(client, upload):
    """A trap not marked retryable fails; marked, with one attempt, it is dead."""
    module = await upload("traps")
    target = f"/v1/modules/{module['id']}/invocations"
    failed = await client.post(target, json={"function": "div", "args": [1, 0]})
    dead = await client.post(
        target,
        json={"function": "div", "args": [1, 0], "retry": {"attempts": 1, "on": ["trap"]}},
    )
    failed_doc = await finished(client, failed.headers["location"])
    dead_doc = await finished(client, dead.headers["location"])
    assert failed_doc["state"] == "failed"
    assert failed_doc["error"]["code"] == "trap"
    assert dead_doc["state"] == "dead"


async def test_the_idempotency_key_replays_the_first_invocation(client, upload):
    """The same Idempotency-Key answers the same invocation, marked as replayed."""
    module = await upload("sum")
    target = f"/v1/modules/{module['id']}/invocations"
    headers = {"idempotency-key": "order-42"}
    first = await client.post(target, json={"args": [1, 2]}, headers=headers)
    again = await client.post(target, json={"args": [1, 2]}, headers=headers)
    assert again.status_code == 202
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


async def test_bad_requests_queue_nothing(client, upload):
    """Unknown module or function 404; a bad retry policy or body 400."""
    module = await upload("sum")
    target = f"/v1/modules/{module['id']}/invocations"
    assert_problem(await client.post(target, json={"function": "nope"}), 404, "function_not_found")
    assert_problem(
        await client.post(target, json={"args": [1, 2], "retry": {"on": ["invalid_arguments"]}}),
        400,
        "invalid_request",
    )
    assert_problem(
        await client.post(target, json={"args": [1, 2], "retry": {"attempts": 0}}),
        400,
        "invalid_request",
    )
    assert_problem(await client.post(target, json=[1]), 400, "invalid_request")
    assert_problem(
        await client.get("/v1/invocations/00000000-0000-4000-8000-000000000000"),
        404,
        "invocation_not_found",
    )
    assert_problem(await client.get("/v1/invocations/nope"), 404, "invocation_not_found")


async def test_another_namespace_cannot_read_an_invocation(client):
    """Tenant isolation: team-b's key gets 404 for team-a's invocation."""
    alice = await mint(client, "team-a", "developer")
    bob = await mint(client, "team-b", "developer")
    module_id = await upload_as(client, alice)
    response = await client.post(
        f"/v1/modules/{module_id}/invocations", json={"args": [1, 2]}, headers=bearer(alice)
    )
    location = response.headers["location"]
    assert (await finished(client, location, headers=bearer(alice)))["state"] == "succeeded"
    assert_problem(await client.get(location, headers=bearer(bob)), 404, "invocation_not_found")
    assert_problem(
        await client.post(
            f"/v1/modules/{module_id}/invocations", json={"args": [1, 2]}, headers=bearer(bob)
        ),
        404,
        "module_not_found",
    )
