"""Resilience through HTTP: the run deadline and its header, a module's breaker (503,
Retry-After, shown on the resource), the storage and Redis breakers in /readyz, and the
new problems' shapes."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from tests.fixtures import wasm
from wess.api.app import create_app
from wess.api.problems import legacy_response, problem_response
from wess.api.schemas import ModuleResource
from wess.api.state import ApiState
from wess.circuit import CircuitBreaker
from wess.errors import (
    DeadlineExceeded,
    ModuleCircuitOpen,
    RateLimitUnavailable,
    StorageCircuitOpen,
)
from wess.observability.health import HealthCheck
from wess.security.ratelimit import RedisFailurePolicy
from wess.server.resilience import Breakers
from wess.server.serving import site_policy
from wess.storage.breaking import BreakerStore
from wess.testing import FakeClock, MemoryStore, TestClient, assert_problem, open_client
from wess.testing import test_settings as settings_for

TIMEOUT = "Request-Timeout-Ms"


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    """The app with module breakers opening after two failures."""
    settings = settings_for(WESS_RUNNER_BREAKER_FAILURES="2", WESS_RUNNER_BREAKER_COOLDOWN="30")
    async with open_client(settings) as client:
        yield client


async def traps_module(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/v1/modules", content=wasm("traps"), headers={"content-type": "application/wasm"}
    )
    assert response.status_code == 201, response.text
    module_id: str = response.json()["id"]
    return module_id


# -- deadlines --------------------------------------------------------------------------------


async def test_a_short_request_timeout_cuts_the_call_and_names_the_layer(client):
    """Request-Timeout-Ms: 300 on a function that loops, the module already compiled:
    408 deadline_exceeded, layer execution (not the module's own 2 s timeout)."""
    module_id = await traps_module(client)
    url = f"/v1/modules/{module_id}/run"
    assert (await client.post(url, json={"function": "div", "args": [4, 2]})).status_code == 200
    response = await client.post(url, json={"function": "spin"}, headers={TIMEOUT: "300"})
    body = assert_problem(response, 408, "deadline_exceeded")
    assert body["layer"] == "execution"
    assert body["timeout_ms"] == 300


async def test_the_original_route_honours_the_header_too(client):
    """A module uploaded with metadata naming spin: its original run route, with a short
    deadline, answers 408 {"message"}."""
    metadata = {"functionName": "spin", "returnType": [], "args": []}
    created = await client.post("/", json={"wasm": list(wasm("traps")), "metadata": metadata})
    module_id = created.json()["message"]["id"]
    response = await client.post(f"/{module_id}", json=[], headers={TIMEOUT: "50"})
    assert response.status_code == 408
    assert "deadline" in response.json()["message"]


@pytest.mark.parametrize("value", ["0", "-5", "soon", "1.5", "99999999999"])
async def test_a_malformed_request_timeout_is_400(client, value):
    """Not a whole number of at least 1 ms (or absurdly long to write): 400 naming it."""
    module_id = await traps_module(client)
    response = await client.post(
        f"/v1/modules/{module_id}/run",
        json={"function": "div", "args": [4, 2]},
        headers={TIMEOUT: value},
    )
    body = assert_problem(response, 400, "invalid_request")
    assert body["field"] == TIMEOUT


async def test_a_long_request_timeout_is_capped_and_a_normal_call_is_untouched(client):
    """A header asking for more than the server allows is cut to the setting, silently:
    a quick call answers 200 as without the header."""
    module_id = await traps_module(client)
    response = await client.post(
        f"/v1/modules/{module_id}/run",
        json={"function": "div", "args": [4, 2]},
        headers={TIMEOUT: "9999999"},
    )
    assert response.status_code == 200
    assert response.json()["results"] == [2]


# -- the module breaker -----------------------------------------------------------------------


async def test_a_module_that_keeps_trapping_is_503_and_shows_its_breaker(client):
    """Two traps in a row: the third call is 503 module_circuit_open with Retry-After,
    and GET /v1/modules/{id} carries "breaker" (valid against the documented schema); a
    new revision clears it."""
    module_id = await traps_module(client)
    url = f"/v1/modules/{module_id}/run"
    for _ in range(2):
        assert_problem(await client.post(url, json={"function": "unreachable"}), 422, "trap")
    refused = await client.post(url, json={"function": "div", "args": [4, 2]})
    body = assert_problem(refused, 503, "module_circuit_open")
    assert refused.headers["retry-after"] == "30"
    assert body["module_id"] == module_id
    resource = (await client.get(f"/v1/modules/{module_id}")).json()
    assert resource["breaker"] == {"state": "open", "failures": 2, "retry_after": 30}
    ModuleResource.model_validate(resource)
    replaced = await client.put(
        f"/v1/modules/{module_id}",
        content=wasm("traps"),
        headers={"content-type": "application/wasm"},
    )
    assert replaced.status_code == 200
    assert "breaker" not in replaced.json()
    assert (await client.post(url, json={"function": "div", "args": [4, 2]})).status_code == 200
    metrics = (await client.get("/metrics")).text
    assert 'wess_breaker_rejections_total{breaker="module"} 1.0' in metrics


async def test_a_working_module_has_no_breaker_field(client):
    module_id = await traps_module(client)
    assert "breaker" not in (await client.get(f"/v1/modules/{module_id}")).json()


# -- readiness --------------------------------------------------------------------------------


async def readyz(client: TestClient, breakers: Breakers) -> httpx.Response:
    """/readyz of the client's app with ``breakers`` as its breakers."""
    state: ApiState = client.state
    swapped = dataclasses.replace(
        state, health=HealthCheck({"breakers": breakers.probe}), breakers=breakers.report
    )
    sites = site_policy(client.settings, port=client.settings.server.port)
    transport = httpx.ASGITransport(app=create_app(swapped, sites=sites, access_log=None))
    async with httpx.AsyncClient(transport=transport, base_url=client.base_url) as other:
        return await other.get("/readyz")


def storage_breakers(clock: FakeClock) -> BreakerStore:
    def breaker() -> CircuitBreaker:
        return CircuitBreaker(threshold=1, cooldown=5, clock=clock.monotonic)

    return BreakerStore(MemoryStore(), reads=breaker(), writes=breaker())


async def test_an_open_storage_breaker_is_not_ready_and_half_open_is(client):
    """Write breaker open: 503, the check names it, the detail shows it with its
    retry_after; after the cool-down (half open) ready again, though not yet probed."""
    clock = FakeClock()
    store = storage_breakers(clock)
    store.writes.failure()
    response = await readyz(client, Breakers(store))
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"breakers": "circuit open: storage_writes"}
    assert body["breakers"]["storage_writes"] == {"state": "open", "failures": 1, "retry_after": 5}
    assert body["breakers"]["storage_reads"] == {"state": "closed", "failures": 0}
    clock.advance(5)
    response = await readyz(client, Breakers(store))
    assert response.status_code == 200
    assert response.json()["breakers"]["storage_writes"]["state"] == "half_open"


@pytest.mark.parametrize(
    ("policy", "status"), [(RedisFailurePolicy.OPEN, 200), (RedisFailurePolicy.CLOSED, 503)]
)
async def test_an_open_redis_breaker_is_not_ready_only_when_failing_closed(client, policy, status):
    """Redis out, policy open: ready (requests are still limited, in memory), the breaker
    reported; policy closed: not ready (requests are refused)."""
    clock = FakeClock()
    redis = CircuitBreaker(threshold=1, cooldown=5, clock=clock.monotonic)
    redis.failure()
    response = await readyz(
        client, Breakers(storage_breakers(clock), redis=redis, redis_policy=policy)
    )
    assert response.status_code == status
    body = response.json()
    assert body["breakers"]["ratelimit_redis"]["state"] == "open"
    assert body["breakers"]["ratelimit_policy"] == policy.value


async def test_the_real_readiness_lists_every_breaker(client):
    """The started server's /readyz: every check ok, breakers closed, no module open."""
    body = (await client.get("/readyz")).json()
    assert body["checks"]["breakers"] == "ok"
    assert body["breakers"] == {
        "storage_reads": {"state": "closed", "failures": 0},
        "storage_writes": {"state": "closed", "failures": 0},
        "modules_open": 0,
    }


# -- the problems -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code", "retry_after"),
    [
        (DeadlineExceeded("late", layer="queue"), 408, "deadline_exceeded", None),
        (ModuleCircuitOpen("cooling", retry_after=7), 503, "module_circuit_open", "7"),
        (StorageCircuitOpen("open", retry_after=4), 503, "storage_circuit_open", "4"),
        (RateLimitUnavailable("redis", retry_after=2), 503, "ratelimit_unavailable", "2"),
    ],
)
def test_new_problems_have_their_status_code_and_retry_after(error, status, code, retry_after):
    """Each new error maps to its status in both shapes, with its own Retry-After."""
    for response in (problem_response(error, request_id="r-1"), legacy_response(error)):
        assert response.status_code == status
        assert response.headers.get("retry-after") == retry_after
    assert orjson.loads(problem_response(error, request_id="r-1").body)["code"] == code
