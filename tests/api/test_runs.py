"""The two run routes: one endpoint each, reached by every request, described in OpenAPI,
reading the module once per run."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import httpx
import pytest

from tests.fixtures import wasm
from wess.api.app import ROUTERS, build_api
from wess.api.runs import RunEndpoint, RunRoute
from wess.testing import assert_problem
from wess.workers.reader import Reader

LEGACY_SUM = json.dumps(
    {
        "wasm": list(wasm("sum")),
        "metadata": {"functionName": "sum", "returnType": ["I32"], "args": ["I32", "I32"]},
    }
).encode()


@pytest.fixture
def module_reads(monkeypatch) -> Counter[str]:
    """Counts the Reader's module lookups (``get`` and ``get_info``), whoever asks."""
    reads: Counter[str] = Counter()

    def counted(name: str):
        method = getattr(Reader, name)

        async def count(self, *args, **kwargs):
            reads[name] += 1
            return await method(self, *args, **kwargs)

        return count

    for name in ("get", "get_info"):
        monkeypatch.setattr(Reader, name, counted(name))
    return reads


async def legacy_module(client: httpx.AsyncClient) -> str:
    created = await client.post("/", content=LEGACY_SUM)
    assert created.status_code == 202, created.text
    module_id: str = created.json()["message"]["id"]
    return module_id


def test_each_run_route_is_one_plain_asgi_endpoint():
    """Exactly one route per run operation, and its endpoint is the raw ASGI callable (no
    FastAPI handler beside it that requests could reach instead)."""
    runs = [
        (route.path, route.methods)
        for router in ROUTERS
        for route in router.routes
        if "POST" in (getattr(route, "methods", None) or ())
        and getattr(route, "path", None) in ("/v1/modules/{module_id}/run", "/{module_id}")
    ]
    assert sorted(runs) == [("/v1/modules/{module_id}/run", {"POST"}), ("/{module_id}", {"POST"})]
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, RunRoute):
                assert isinstance(route.app, RunEndpoint)


async def test_openapi_describes_both_run_operations(client):
    """/openapi.json shows each run with its permission, request body and responses."""
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    v1 = document["paths"]["/v1/modules/{module_id}/run"]["post"]
    legacy = document["paths"]["/{module_id}"]["post"]
    for operation in (v1, legacy):
        assert operation["x-wess-permission"] == "module:run"
        assert operation["parameters"][0]["name"] == "module_id"
        assert operation["requestBody"]["required"] is True
        assert {"200", "400", "401", "404"} <= set(operation["responses"])
    assert v1["requestBody"]["content"]["application/json"]["schema"] == {
        "oneOf": [
            {"$ref": "#/components/schemas/RunRequest"},
            {"$ref": "#/components/schemas/CommandRunRequest"},
        ]
    }
    assert "application/octet-stream" in v1["requestBody"]["content"]
    answers = v1["responses"]["200"]["content"]
    ok = [one["$ref"].rsplit("/", 1)[1] for one in answers["application/json"]["schema"]["oneOf"]]
    assert ok == ["RunResult", "CommandResult"]
    assert "application/octet-stream" in answers
    assert "Wess-Exit-Code" in v1["responses"]["200"]["headers"]
    assert "application/problem+json" in v1["responses"]["422"]["content"]
    assert legacy["requestBody"]["content"]["application/json"]["schema"]["type"] == "array"
    ok = legacy["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    error = legacy["responses"]["404"]["content"]["application/json"]["schema"]["$ref"]
    assert schemas[ok.rsplit("/", 1)[1]]["properties"]["message"]["type"] == "array"
    assert schemas[error.rsplit("/", 1)[1]]["properties"]["message"]["type"] == "string"
    assert {"RunRequest", "RunResult", "CommandRunRequest", "CommandResult", "Problem"} <= set(
        schemas
    )


async def test_the_framework_serves_runs_with_the_same_endpoints(client, upload):
    """Without the fast lane in front, FastAPI routes both runs to the same endpoints and
    answers as the fast lane does."""
    module = await upload("sum")
    legacy_id = await legacy_module(client)
    framework = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_api(client.state), client=("203.0.113.7", 1)),
        base_url="http://wess",
        headers={"authorization": client.headers["authorization"]},
    )
    async with framework:
        for caller in (client, framework):
            run = await caller.post(f"/v1/modules/{module['id']}/run", json={"args": [1, 2]})
            assert run.status_code == 200, run.text
            assert run.json()["results"] == [3]
            legacy = await caller.post(f"/{legacy_id}", content=b"[2, 5]")
            assert legacy.json() == {"message": [7]}
            missing = await caller.post(f"/{uuid.uuid4()}", content=b"[1, 2]")
            assert missing.status_code == 404
            assert set(missing.json()) == {"message"}


async def test_requests_the_fast_lane_does_not_take_behave_as_before(client, upload):
    """Another method is 405 naming POST, a trailing slash is 404 (no redirect), a short
    id on the original API reaches the run endpoint through the framework (400, its
    error shape)."""
    module = await upload("sum")
    path = f"/v1/modules/{module['id']}/run"
    wrong_method = await client.get(path)
    assert_problem(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "POST"
    slash = await client.post(path + "/", json={"args": [1, 2]})
    assert_problem(slash, 404, "not_found")
    short = await client.post("/not-a-uuid", content=b"[1, 2]")
    assert short.status_code == 400
    assert short.json()["message"].startswith("'not-a-uuid' is not a module id")


async def test_a_legacy_run_reads_the_module_once(client, module_reads):
    """POST /{id} resolves the function from the record it reads to run: one read."""
    module_id = await legacy_module(client)
    module_reads.clear()
    response = await client.post(f"/{module_id}", content=b"[1, 2]")
    assert response.json() == {"message": [3]}
    assert sum(module_reads.values()) == 1


async def test_a_v1_run_reads_the_module_once(client, upload, module_reads):
    """A /v1 run without a function name reads the module once too."""
    module = await upload("sum", function="sum")
    module_reads.clear()
    response = await client.post(f"/v1/modules/{module['id']}/run", json={"args": [1, 2]})
    assert response.json()["results"] == [3]
    assert sum(module_reads.values()) == 1
