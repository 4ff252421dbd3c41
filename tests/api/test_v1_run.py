"""/v1 runs: results, arguments, limits, traps, and overload."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fixtures import wasm
from wess.testing import assert_problem, open_client, test_settings


@pytest.fixture
def client(any_store_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Every test of this module runs on every backend (memory, RocksDB, PostgreSQL)."""
    return any_store_client


async def test_run_sum(client, upload):
    """The README example: sum(1, 2) -> 3 with timing."""
    module = await upload("sum")
    response = await client.post(
        f"/v1/modules/{module['id']}/run", json={"function": "sum", "args": [1, 2]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"] == [3]
    assert body["function"] == "sum"
    assert isinstance(body["duration_us"], int)
    assert body["duration_us"] >= 0
    assert "fuel_used" not in body


async def test_function_defaults(client, upload):
    """Without a function name: the declared default, else the only export; else 404."""
    declared = await upload("numbers", function="add_i64")
    run = await client.post(f"/v1/modules/{declared['id']}/run", json={"args": [2, 3]})
    assert run.json()["function"] == "add_i64"
    only = await upload("sum")
    run = await client.post(f"/v1/modules/{only['id']}/run", json={"args": [2, 3]})
    assert run.json()["results"] == [5]
    ambiguous = await upload("numbers")
    body = assert_problem(
        await client.post(f"/v1/modules/{ambiguous['id']}/run", json={}), 404, "function_not_found"
    )
    assert "id_i32" in body["detail"]


async def test_unknown_function_is_404(client, upload):
    """A function the module does not export is 404 function_not_found."""
    module = await upload("sum")
    response = await client.post(
        f"/v1/modules/{module['id']}/run", json={"function": "product", "args": [1, 2]}
    )
    assert_problem(response, 404, "function_not_found")


@pytest.mark.parametrize(
    ("function", "args", "fragment"),
    [
        ("sum", [1], "2"),
        ("sum", [1, 2, 3], "2"),
        ("sum", [2**31, 0], "i32"),
        ("sum", [-(2**31) - 1, 0], "i32"),
        ("sum", [1.5, 0], "i32"),
        ("sum", ["1", 0], "i32"),
        ("sum", [True, 0], "i32"),
        ("sum", [None, 0], "i32"),
    ],
)
async def test_bad_arguments_are_400(client, upload, function, args, fragment):
    """Wrong count, type or range is a 400, never a silent wrap or coercion."""
    module = await upload("sum")
    response = await client.post(
        f"/v1/modules/{module['id']}/run", json={"function": function, "args": args}
    )
    body = assert_problem(response, 400, "invalid_arguments")
    assert fragment in body["detail"]


async def test_at_most_ten_arguments(client, upload):
    """More than limits.max_args arguments is refused before anything runs."""
    module = await upload("sum")
    response = await client.post(
        f"/v1/modules/{module['id']}/run", json={"function": "sum", "args": [1] * 11}
    )
    assert "10" in assert_problem(response, 400, "invalid_arguments")["detail"]


async def test_run_body_errors(client, upload):
    """A run body that is not JSON, not an object, or has unknown fields is a 400."""
    url = f"/v1/modules/{(await upload('sum'))['id']}/run"
    assert_problem(await client.post(url, content=b"[1,"), 400, "malformed_json")
    assert_problem(await client.post(url, json=[1, 2]), 400, "invalid_request")
    assert_problem(await client.post(url, json={"argz": [1]}), 400, "invalid_request")
    assert_problem(await client.post(url, json={"args": 3}), 400, "invalid_request")


async def test_value_types_round_trip(client, upload):
    """i64 extremes are exact; NaN and Infinity travel as strings; multi-value works."""
    url = f"/v1/modules/{(await upload('numbers'))['id']}/run"

    async def call(function, *args):
        response = await client.post(url, json={"function": function, "args": list(args)})
        assert response.status_code == 200, response.text
        return response.json()["results"]

    assert await call("id_i64", 2**63 - 1) == [2**63 - 1]
    assert await call("id_i64", -(2**63)) == [-(2**63)]
    assert await call("id_f64", "NaN") == ["NaN"]
    assert await call("div_f64", 1, 0) == ["Infinity"]
    assert await call("div_f64", -1, 0) == ["-Infinity"]
    assert await call("id_f64", 0.1) == [0.1]
    assert await call("swap", 7, 2**40) == [2**40, 7]
    assert await call("nothing") == []


async def test_every_call_gets_a_fresh_instance(client, upload):
    """A module that increments a global returns 1 on every call: no state leaks."""
    url = f"/v1/modules/{(await upload('counter'))['id']}/run"
    for _ in range(3):
        assert (await client.post(url, json={})).json()["results"] == [1]


@pytest.mark.parametrize(
    ("function", "args", "kind"),
    [
        ("unreachable", [], "unreachable"),
        ("div", [1, 0], "integer_divide_by_zero"),
        ("overflow", [], "integer_overflow"),
        ("recurse", [0], "stack_overflow"),
        ("oob", [], "memory_out_of_bounds"),
    ],
)
async def test_traps_are_422_with_their_kind(client, upload, function, args, kind):
    """A trap is a 422 naming the trap kind; the server keeps serving."""
    url = f"/v1/modules/{(await upload('traps'))['id']}/run"
    response = await client.post(url, json={"function": function, "args": args})
    assert assert_problem(response, 422, "trap")["kind"] == kind
    assert (await client.get("/healthz")).status_code == 200


async def test_memory_limit_is_422(client, upload):
    """Growing memory past the (per-request lowered) limit is memory_limit_exceeded."""
    url = f"/v1/modules/{(await upload('traps'))['id']}/run"
    ok = await client.post(url, json={"function": "grow", "args": [1]})
    assert ok.json()["results"] == [2]
    response = await client.post(
        url, json={"function": "grow", "args": [100], "limits": {"max_memory": 1 << 20}}
    )
    assert_problem(response, 422, "memory_limit_exceeded")


async def test_timeout_is_408(client, upload):
    """An endless loop is stopped at the wall-clock limit: 408."""
    url = f"/v1/modules/{(await upload('traps'))['id']}/run"
    response = await client.post(url, json={"function": "spin", "limits": {"timeout_ms": 50}})
    body = assert_problem(response, 408, "timeout")
    assert "50" in body["detail"]


async def test_limits_can_be_lowered_never_raised(client, upload):
    """Asking for more than the configured limit is a 400 naming the limit."""
    url = f"/v1/modules/{(await upload('sum'))['id']}/run"
    response = await client.post(url, json={"args": [1, 2], "limits": {"timeout_ms": 10_000_000}})
    assert "timeout_ms" in assert_problem(response, 400, "invalid_request")["detail"]
    bad = await client.post(url, json={"args": [1, 2], "limits": {"timeout_ms": -1}})
    assert_problem(bad, 400, "invalid_request")


async def test_fuel(client, upload):
    """With a fuel limit the result reports fuel_used; running out is trap out_of_fuel."""
    sum_url = f"/v1/modules/{(await upload('sum'))['id']}/run"
    metered = await client.post(sum_url, json={"args": [1, 2], "limits": {"fuel": 1000}})
    assert metered.status_code == 200, metered.text
    assert 0 < metered.json()["fuel_used"] <= 1000
    spin_url = f"/v1/modules/{(await upload('traps'))['id']}/run"
    response = await client.post(spin_url, json={"function": "spin", "limits": {"fuel": 10_000}})
    assert assert_problem(response, 422, "trap")["kind"] == "out_of_fuel"


async def test_wasi_stdout_is_captured(client, upload):
    """A WASI module's stdout comes back in the result, not on the server's terminal."""
    url = f"/v1/modules/{(await upload('hello_wasi'))['id']}/run"
    body = (await client.post(url, json={"function": "hello"})).json()
    assert body["results"] == [0]
    assert body["stdout"] == "hello\n"


async def test_randomi32_host_function(client, upload):
    """env.randomi32 (the original Wess syscall example) returns an i32."""
    url = f"/v1/modules/{(await upload('random'))['id']}/run"
    value = (await client.post(url, json={})).json()["results"][0]
    assert -(2**31) <= value < 2**31


async def test_full_runner_queue_is_503_with_retry_after():
    """When the runner's bounded queue is full, callers get 503 and Retry-After at once."""
    settings = test_settings(WESS_RUNNER_CHANNEL_SIZE="1", WESS_RUNNER_WORKERS="1")
    async with open_client(settings) as client:
        created = await client.post(
            "/v1/modules", content=wasm("traps"), headers={"content-type": "application/wasm"}
        )
        url = f"/v1/modules/{created.json()['id']}/run"
        body = {"function": "spin", "limits": {"timeout_ms": 500}}
        responses = await asyncio.gather(*(client.post(url, json=body) for _ in range(3)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses[0] == 408
        rejected = [r for r in responses if r.status_code == 503]
        assert rejected, statuses
        assert_problem(rejected[0], 503, "overloaded")
        assert int(rejected[0].headers["retry-after"]) >= 1
