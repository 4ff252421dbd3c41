"""Components over HTTP: uploaded like modules, their catalogue with WIT types, runs
with JSON values, their own size limit; on every backend."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from wess.testing import assert_problem, open_client, test_settings

GREETER = (Path(__file__).parents[2] / "examples" / "components" / "greeter.wasm").read_bytes()
WASM = {"content-type": "application/wasm"}


@pytest.fixture
def client(any_store_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return any_store_client


async def test_upload_list_and_run_a_component(client):
    """A component uploads like a module; its functions carry their WIT type, and a run
    takes and returns JSON values (a string, a record, a list, a result)."""
    created = await client.post("/v1/modules", content=GREETER, headers=WASM, params={"name": "g"})
    assert created.status_code == 201, created.text
    module = created.json()
    functions = {f["name"]: f for f in module["functions"]}
    assert functions["greet"] == {
        "name": "greet",
        "params": [],
        "results": [],
        "wit": "func(who: string) -> string",
    }
    fetched = (await client.get(f"/v1/modules/{module['id']}")).json()
    assert fetched["functions"] == module["functions"]
    run = f"/v1/modules/{module['id']}/run"
    greet = await client.post(run, json={"function": "greet", "args": ["Ada"]})
    assert greet.status_code == 200, greet.text
    assert greet.json()["results"] == ["Hello, Ada!"]
    older = await client.post(
        run, json={"function": "birthday", "args": [{"name": "Ada", "age": 36}]}
    )
    assert older.json()["results"] == [{"name": "Ada", "age": 37}]
    counted = await client.post(run, json={"function": "count", "args": [["a", "b"]]})
    assert counted.json()["results"] == [2]
    refused = await client.post(run, json={"function": "check-age", "args": [-5]})
    assert refused.json()["results"] == [{"err": "age must not be negative"}]


async def test_component_errors_are_problems(client):
    """Wrong arguments are 400 invalid_arguments naming where; a trap is 422 trap."""
    created = (await client.post("/v1/modules", content=GREETER, headers=WASM)).json()
    run = f"/v1/modules/{created['id']}/run"
    wrong = await client.post(run, json={"function": "birthday", "args": [{"name": 1, "age": 2}]})
    body = assert_problem(wrong, 400, "invalid_arguments")
    assert "argument 1 (p) of birthday: .name must be a string" in body["detail"]
    trapped = await client.post(run, json={"function": "crash"})
    assert trapped.json()["code"] == "trap"


async def test_components_have_their_own_size_limit():
    """components.max_size bounds components, limits.max_module_size core modules."""
    settings = test_settings(
        WESS_COMPONENTS_MAX_SIZE="1024", WESS_LIMITS_MAX_MODULE_SIZE=str(64 << 10)
    )
    async with open_client(settings) as client:
        raw = await client.post("/v1/modules", content=GREETER, headers=WASM)
        body = assert_problem(raw, 413, "payload_too_large")
        assert "components.max_size" in body["detail"]
        as_json = await client.post(
            "/v1/modules", json={"content": base64.b64encode(GREETER).decode()}
        )
        assert_problem(as_json, 413, "payload_too_large")
    async with open_client(test_settings(WESS_LIMITS_MAX_MODULE_SIZE="1024")) as client:
        accepted = await client.post("/v1/modules", content=GREETER, headers=WASM)
        assert accepted.status_code == 201, accepted.text
