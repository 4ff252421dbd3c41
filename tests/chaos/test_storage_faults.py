"""Storage that fails, slows down or hangs, in process through the real app.

The store is wrapped in a ``FaultyStore`` where ``wess serve`` opens it. Whatever the
fault, a write is answered with a clear 503 (never a 500, never a hang past the write
queue's bound), modules in the Reader's cache keep running, ``/readyz`` says what is
wrong, and once the store is healed Wess works again without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

import wess.server.state
from tests.chaos.faults import READS, WRITES, Fault, FaultyStore, faulty_opener
from tests.fixtures import distinct_sum
from wess.errors import StorageUnavailable
from wess.testing import TestClient, assert_problem, open_client, test_settings

pytestmark = pytest.mark.chaos
WASM = {"content-type": "application/wasm"}
FAST = 1.0
"""Seconds within which a write should be refused when storage is failing (recorded)."""
HANG = 5.0
"""Seconds past which a refusal is taken for a hang (the full run fails)."""
WRITE_QUEUE = 8


@pytest.fixture
async def faulty(monkeypatch) -> AsyncIterator[tuple[TestClient, FaultyStore]]:
    opened: list[FaultyStore] = []
    monkeypatch.setattr(wess.server.state, "open_store", faulty_opener(opened))
    settings = test_settings(
        WESS_DATABASE_BREAKER_FAILURES="3",
        WESS_DATABASE_BREAKER_COOLDOWN="5",
        WESS_DATABASE_RETRY_BUDGET_MS="200",
        WESS_WRITER_CHANNEL_SIZE=str(WRITE_QUEUE),
    )
    async with open_client(settings) as client:
        (store,) = opened
        yield client, store


async def upload(client: TestClient, seed: int) -> tuple[int, str, float]:
    """POST a module: (status, code or id, seconds taken)."""
    started = time.monotonic()
    response = await client.post("/v1/modules", content=distinct_sum(seed), headers=WASM)
    took = time.monotonic() - started
    body = response.json()
    return response.status_code, body.get("code") or body.get("id"), took


async def run_sum(client: TestClient, module_id: str) -> int:
    response = await client.post(f"/v1/modules/{module_id}/run", json={"args": [2, 3]})
    assert response.status_code != 200 or response.json()["results"] == [5]
    return response.status_code


async def until(check, what: str, *, settle: float = 10.0):
    deadline = time.monotonic() + settle
    while not (result := await check()):
        assert time.monotonic() < deadline, f"{what} did not happen within {settle} s"
        await asyncio.sleep(0.05)
    return result


async def test_failing_storage_refuses_writes_fast_serves_the_cache_and_recovers(
    faulty, record, level
):
    """Storage errors: uploads 503 storage_unavailable, then storage_circuit_open with
    Retry-After, each at once; a cached module keeps running; /readyz names the open
    breaker. Healed: after the cool-down a probe closes it and uploads work again."""
    client, store = faulty
    status, module_id, _ = await upload(client, 0)
    assert status == 201
    assert await run_sum(client, module_id) == 200  # now in the Reader's cache, compiled

    store.inject(WRITES, Fault(error=StorageUnavailable("disk gone")))
    store.inject(READS, Fault(error=StorageUnavailable("disk gone")))
    answers = [await upload(client, seed) for seed in range(1, 8)]
    codes = [code for _, code, _ in answers]
    assert {status for status, _, _ in answers} == {503}, answers
    assert codes[0] == "storage_unavailable"
    assert set(codes) == {"storage_unavailable", "storage_circuit_open"}, codes
    slowest = max(took for _, _, took in answers)
    if level.full:
        assert slowest < HANG, answers
    refused = await client.post("/v1/modules", content=distinct_sum(99), headers=WASM)
    assert int(assert_problem(refused, 503, "storage_circuit_open")["retry_after"]) >= 1
    assert refused.headers["retry-after"]
    assert await run_sum(client, module_id) == 200  # the cache answers
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert "storage" in ready.json()["checks"]["breakers"]

    store.heal()

    async def writes_again() -> bool:
        status, _, _ = await upload(client, 100 + int(time.monotonic() * 1000) % 10_000)
        return status == 201

    await until(writes_again, "an upload after the store healed", settle=30)
    await until(lambda: _ready(client), "readiness after the store healed")
    record(
        scenario="errors",
        refused=len(answers),
        slowest_refusal_s=round(slowest, 3),
        within_1s=slowest < FAST,
    )


async def _ready(client: TestClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def test_slow_storage_is_slow_not_wrong(faulty, record):
    """Every storage call 50 ms late: uploads and uncached reads succeed, just later."""
    client, store = faulty
    store.inject(WRITES, Fault(delay=0.05))
    store.inject(READS, Fault(delay=0.05))
    created = [await upload(client, seed) for seed in range(4)]
    assert [status for status, _, _ in created] == [201] * 4
    for _, module_id, _ in created:
        assert await run_sum(client, module_id) == 200
    record(scenario="latency", uploads=4)


async def test_hung_storage_answers_every_write_within_the_commit_timeout(faulty, record, level):
    """Commits hang: with the default writer.commit_timeout_ms (1 s) every upload is
    answered 503 within about that: ``storage_timeout`` (applied false: withdrawn
    before storage saw it; applied unknown: storage holds it) or ``overloaded`` (past
    the write queue's bound); a cached module keeps running and /readyz names the
    stall. Once storage answers, exactly the uploads it held are there, and uploads
    work again without a restart."""
    client, store = faulty
    status, module_id, _ = await upload(client, 0)
    assert status == 201
    assert await run_sum(client, module_id) == 200
    store.inject(WRITES, Fault(hang=True))
    bodies = await asyncio.gather(*(answer(client, seed) for seed in range(1, 4 * WRITE_QUEUE)))
    assert {status for status, _, _ in bodies} == {503}, bodies
    codes = {body["code"] for _, body, _ in bodies}
    assert "storage_timeout" in codes
    assert codes <= {"storage_timeout", "overloaded"}, codes
    timed_out = [body for _, body, _ in bodies if body["code"] == "storage_timeout"]
    held = {body["module_id"] for body in timed_out if body["applied"] == "unknown"}
    assert all(body["applied"] in (False, "unknown") for body in timed_out), timed_out
    slowest = max(took for _, _, took in bodies)
    if level.full:
        assert slowest < HANG, bodies
    assert await run_sum(client, module_id) == 200  # the cache answers
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert "storage stalled" in ready.json()["checks"]["writer"]

    store.heal()
    await until(lambda: _ready(client), "readiness after the store answered")
    status, after, _ = await upload(client, 999)
    assert status == 201
    listed = (await client.get("/v1/modules", params={"limit": "1000"})).json()["items"]
    assert {m["id"] for m in listed} == {module_id, after, *held}  # nothing withdrawn landed
    record(
        scenario="hang",
        refused=len(bodies),
        held=len(held),
        slowest_answer_s=round(slowest, 3),
        within_1s_plus_100ms=slowest < FAST + 0.1,
    )


async def answer(client: TestClient, seed: int) -> tuple[int, dict, float]:
    """POST a module: (status, body, seconds taken)."""
    started = time.monotonic()
    response = await client.post("/v1/modules", content=distinct_sum(seed), headers=WASM)
    return response.status_code, response.json(), time.monotonic() - started
