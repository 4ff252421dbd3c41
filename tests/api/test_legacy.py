"""The original Wess API, as its clients (Behave steps, k6 script) use it."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import wasmtime
from structlog.testing import capture_logs

from tests.fixtures import wasm


def legacy_body(name: str, function: str, args: list[str], returns: list[str]) -> bytes:
    """The body the original clients send: json.dumps(...) with no JSON content type."""
    return json.dumps(
        {
            "wasm": list(wasm(name)),
            "metadata": {"functionName": function, "returnType": returns, "args": args},
        }
    ).encode()


async def create(client, name="sum", function="sum", args=("I32", "I32"), returns=("I32",)):
    response = await client.post(
        "/", content=legacy_body(name, function, list(args), list(returns))
    )
    assert response.status_code == 202, response.text
    return response.json()["message"]["id"]


@pytest.fixture
def client(any_store_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Every test of this module runs on every backend (memory, RocksDB, PostgreSQL)."""
    return any_store_client


async def test_create_answers_202_with_a_uuid4(client):
    """POST / with no content type -> 202 {"message": {"id": <uuid4>}}."""
    response = await client.post("/", content=legacy_body("sum", "sum", ["I32", "I32"], ["I32"]))
    assert response.status_code == 202
    module_id = response.json()["message"]["id"]
    assert uuid.UUID(module_id).version == 4


async def test_read_after_write_sees_the_module(client):
    """Writes are durable before the 202, so an immediate read sees them."""
    module_id = await create(client)
    response = await client.get(f"/{module_id}")
    assert response.status_code == 202
    message = response.json()["message"]
    assert bytes(message["wasm"]) == wasm("sum")
    assert message["metadata"] == {
        "functionName": "sum",
        "returnType": ["I32"],
        "args": ["I32", "I32"],
    }


async def test_count(client):
    """GET / -> 202 {"message": <number of modules>}."""
    assert (await client.get("/")).json() == {"message": 0}
    await create(client)
    await create(client)
    response = await client.get("/")
    assert response.status_code == 202
    assert response.json() == {"message": 2}


async def test_run(client):
    """POST /{id} with a JSON array -> 200 {"message": [results]}."""
    module_id = await create(client)
    response = await client.post(f"/{module_id}", content=b"[40, 2]")
    assert response.status_code == 200
    assert response.json() == {"message": [42]}


async def test_update_and_delete(client):
    """PUT and DELETE answer 202 {"message": {"id"}}; the change is visible at once."""
    module_id = await create(client)
    updated = await client.put(f"/{module_id}", content=legacy_body("counter", "bump", [], ["I32"]))
    assert updated.status_code == 202
    assert updated.json() == {"message": {"id": module_id}}
    assert (await client.post(f"/{module_id}", content=b"[]")).json() == {"message": [1]}
    deleted = await client.delete(f"/{module_id}")
    assert deleted.status_code == 202
    assert deleted.json() == {"message": {"id": module_id}}
    gone = await client.get(f"/{module_id}")
    assert gone.status_code == 404
    assert set(gone.json()) == {"message"}


async def test_update_keeps_the_name(client):
    """The original API's PUT sends bytes and metadata, never a name: the name stays."""
    created = await client.post(
        "/v1/modules",
        content=wasm("sum"),
        headers={"content-type": "application/wasm"},
        params={"name": "adder", "function": "sum"},
    )
    module = created.json()
    updated = await client.put(
        f"/{module['id']}", content=legacy_body("counter", "bump", [], ["I32"])
    )
    assert updated.status_code == 202, updated.text
    resource = (await client.get(f"/v1/modules/{module['id']}")).json()
    assert (resource["name"], resource["default_function"]) == ("adder", "bump")


async def test_a_v1_update_keeps_the_original_metadata(client):
    """A /v1 PUT with only bytes keeps the function and metadata the original API set,
    so its clients run and read the module as before; bytes whose function no longer
    matches that metadata are refused."""
    module_id = await create(client)
    replaced = await client.put(
        f"/v1/modules/{module_id}",
        content=wasm("sum"),
        headers={"content-type": "application/wasm"},
    )
    assert replaced.status_code == 200, replaced.text
    assert (await client.post(f"/{module_id}", content=b"[40, 2]")).json() == {"message": [42]}
    meta = (await client.get(f"/{module_id}")).json()["message"]["metadata"]
    assert meta == {"functionName": "sum", "returnType": ["I32"], "args": ["I32", "I32"]}
    wide = wasmtime.wat2wasm(
        '(module (func (export "sum") (param i64 i64) (result i64) '
        "local.get 0 local.get 1 i64.add))"
    )
    refused = await client.put(
        f"/v1/modules/{module_id}",
        content=bytes(wide),
        headers={"content-type": "application/wasm"},
    )
    assert refused.status_code == 422
    assert "sum(i32, i32) -> (i32)" in refused.json()["detail"]


async def test_disagreeing_metadata_is_accepted_with_a_warning(client):
    """As the Rust server did: accepted, logged as a warning, the real signature runs."""
    with capture_logs() as logs:
        module_id = await create(client, args=("F64", "F64"), returns=("F64",))
    assert any(entry["log_level"] == "warning" and "disagrees" in entry["event"] for entry in logs)
    assert (await client.post(f"/{module_id}", content=b"[1, 2]")).json() == {"message": [3]}
    meta = (await client.get(f"/{module_id}")).json()["message"]["metadata"]
    assert meta["args"] == ["F64", "F64"]  # returned as the client sent it


async def test_modules_created_on_v1_read_through_the_legacy_api(client, upload):
    """A /v1 module has legacy metadata derived from its default function."""
    module = await upload("sum", function="sum")
    message = (await client.get(f"/{module['id']}")).json()["message"]
    assert message["metadata"] == {
        "functionName": "sum",
        "returnType": ["I32"],
        "args": ["I32", "I32"],
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/not-a-uuid", None, 400),
        ("POST", "/", b"{not json", 400),
        (
            "POST",
            "/",
            json.dumps(
                {"wasm": [0, 1, 2], "metadata": {"functionName": "f", "returnType": [], "args": []}}
            ).encode(),
            400,
        ),
        (
            "POST",
            "/",
            json.dumps(
                {"wasm": [300], "metadata": {"functionName": "f", "returnType": [], "args": []}}
            ).encode(),
            400,
        ),
        ("POST", "/", json.dumps({"wasm": list(wasm("sum"))}).encode(), 400),
        ("GET", "/00000000-0000-4000-8000-000000000000", None, 404),
        ("DELETE", "/00000000-0000-4000-8000-000000000000", None, 404),
        ("POST", "/00000000-0000-4000-8000-000000000000", b"[1]", 404),
    ],
)
async def test_errors_are_message_bodies(client, method, path, body, status):
    """Errors keep the original shape {"message": "<text>"} and its statuses."""
    response = await client.request(method, path, content=body)
    assert response.status_code == status
    document = response.json()
    assert set(document) == {"message"}
    assert isinstance(document["message"], str)


async def test_run_errors(client):
    """Wrong argument count/type -> 400; a trap -> 500, each as {"message"}."""
    module_id = await create(client)
    assert (await client.post(f"/{module_id}", content=b"[1]")).status_code == 400
    assert (await client.post(f"/{module_id}", content=b'["a", 1]')).status_code == 400
    assert (await client.post(f"/{module_id}", content=b'{"a": 1}')).status_code == 400
    traps = await create(client, name="traps", function="unreachable", args=(), returns=())
    trapped = await client.post(f"/{traps}", content=b"[]")
    assert trapped.status_code == 500
    assert "unreachable" in trapped.json()["message"]
