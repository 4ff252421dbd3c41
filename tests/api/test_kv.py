"""wess:kv@1 through the server: a module keeps a counter across calls in its
namespace's store, on every backend; /v1/kv reads, writes, lists and deletes it;
quotas, sizes and tenant isolation."""

from __future__ import annotations

import httpx
import pytest

from tests.api.security_helpers import WASM, bearer, mint
from tests.fixtures import wasm
from wess.testing import assert_problem, open_client, test_settings


@pytest.fixture
def client(any_store_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Every test of this module runs on every backend (memory, RocksDB, PostgreSQL)."""
    return any_store_client


async def hit(client: httpx.AsyncClient, module_id: str, **kwargs: object) -> int:
    response = await client.post(f"/v1/modules/{module_id}/run", json={"function": "hit"}, **kwargs)
    assert response.status_code == 200, response.text
    result: int = response.json()["results"][0]
    return result


async def test_a_module_keeps_a_counter_across_calls(client, upload):
    """Three calls count 1, 2, 3; the owner reads the value, sets it, lists and deletes
    it, and the module sees each change; a batch and async invocations count too."""
    module = (await upload("kv_counter"))["id"]
    assert [await hit(client, module) for _ in range(3)] == [1, 2, 3]
    stored = await client.get("/v1/kv/hits")
    assert stored.status_code == 200
    assert stored.headers["content-type"] == "application/octet-stream"
    assert int.from_bytes(stored.content, "little") == 3
    put = await client.put("/v1/kv/hits", content=(41).to_bytes(4, "little"))
    assert put.status_code == 204, put.text
    assert await hit(client, module) == 42
    listing = await client.get("/v1/kv", params={"prefix": "h"})
    assert listing.json()["items"] == ["hits"]
    assert listing.json()["usage_bytes"] == 8
    assert (await client.delete("/v1/kv/hits")).status_code == 204
    assert_problem(await client.get("/v1/kv/hits"), 404, "kv_key_not_found")
    assert_problem(await client.delete("/v1/kv/hits"), 404, "kv_key_not_found")
    assert await hit(client, module) == 1
    batch = await client.post(
        f"/v1/modules/{module}/run:batch", json={"function": "hit", "args": [[]] * 5}
    )
    assert batch.status_code == 200
    assert int.from_bytes((await client.get("/v1/kv/hits")).content, "little") >= 2


async def test_namespaces_have_stores_of_their_own(client):
    """Team b's module counts in team b's store; team a's key is not there for b (404),
    not even by naming a's namespace."""
    alice = await mint(client, "team-a", "developer")
    bob = await mint(client, "team-b", "developer")
    ids = {}
    for name, token in (("a", alice), ("b", bob)):
        response = await client.post(
            "/v1/modules", content=wasm("kv_counter"), headers={**WASM, **bearer(token)}
        )
        ids[name] = response.json()["id"]
    assert await hit(client, ids["a"], headers=bearer(alice)) == 1
    assert await hit(client, ids["a"], headers=bearer(alice)) == 2
    assert await hit(client, ids["b"], headers=bearer(bob)) == 1
    assert (await client.get("/v1/kv/hits", headers=bearer(alice))).content == (2).to_bytes(
        4, "little"
    )
    assert (await client.get("/v1/kv/hits", headers=bearer(bob))).content == (1).to_bytes(
        4, "little"
    )
    assert_problem(
        await client.get("/v1/kv/hits", params={"namespace": "team-a"}, headers=bearer(bob)),
        404,
        "kv_key_not_found",
    )
    admin_view = await client.get("/v1/kv/hits", params={"namespace": "team-a"})
    assert admin_view.content == (2).to_bytes(4, "little")
    invoker = await mint(client, "team-a", "invoker")
    assert_problem(await client.get("/v1/kv", headers=bearer(invoker)), 403, "permission_denied")


async def test_quota_and_sizes_are_enforced():
    """Past kv.max_namespace_bytes a write is 507 (the API) or QUOTA (-4, the guest);
    a value past kv.max_value_bytes 413; a key past kv.max_key_bytes 400."""
    settings = test_settings(
        WESS_KV_MAX_NAMESPACE_BYTES="12", WESS_KV_MAX_VALUE_BYTES="8", WESS_KV_MAX_KEY_BYTES="6"
    )
    async with open_client(settings) as client:
        created = await client.post("/v1/modules", content=wasm("kv_counter"), headers=WASM)
        module = created.json()["id"]
        assert await hit(client, module) == 1  # 4 + 4 bytes
        assert_problem(await client.put("/v1/kv/abcde", content=b"x"), 507, "quota_exceeded")
        assert_problem(await client.put("/v1/kv/a", content=b"123456789"), 413, "payload_too_large")
        assert_problem(await client.put("/v1/kv/abcdefg", content=b"1"), 400, "invalid_request")
        big = await client.post(
            f"/v1/modules/{module}/run", json={"function": "store_big", "args": [9]}
        )
        assert big.json()["results"] == [-3]  # TOO_LARGE
        assert (await client.put("/v1/kv/ab", content=b"12")).status_code == 204  # 8 + 4 = 12
        assert await hit(client, module) == 2  # replacing a value of the same size fits
        audit = await client.get("/v1/audit", params={"action": "kv.put"})
        outcomes = [entry["outcome"] for entry in audit.json()["items"]]
        assert outcomes.count("ok") == 1
        assert "quota_exceeded" in outcomes
