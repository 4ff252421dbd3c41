"""Operational routes, the problem format everywhere, and the OpenAPI document."""

from __future__ import annotations

import dataclasses

import httpx

from wess.api.app import create_app
from wess.api.state import ApiState
from wess.observability.health import HealthCheck, Lifecycle
from wess.server.serving import site_policy
from wess.testing import assert_problem


async def test_healthz_and_readyz(client):
    """Liveness is always 200; readiness checks storage, both workers, the breakers and
    (advisory) the warm-up; the serving layer adds draining and listeners."""
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "storage": "ok",
        "writer": "ok",
        "runner": "ok",
        "breakers": "ok",
        "warmup": "ok",
    }


async def test_an_advisory_check_is_reported_without_failing_readiness(client):
    """A warm-up still running shows in ``checks`` and leaves the server ready; a
    draining server is not ready, whatever else says."""

    async def warming() -> None:
        raise RuntimeError("warming up: 1 of 3 modules")

    lifecycle = Lifecycle()
    health = HealthCheck({"warmup": warming}, advisory=("warmup",))
    health.add("draining", lifecycle.probe)
    state = dataclasses.replace(client.state, health=health)
    sites = site_policy(client.settings, port=client.settings.server.port)
    transport = httpx.ASGITransport(app=create_app(state, sites=sites, access_log=None))
    async with httpx.AsyncClient(transport=transport, base_url=client.base_url) as other:
        ready = await other.get("/readyz")
        lifecycle.drain()
        draining = await other.get("/readyz")
        metrics = (await other.get("/metrics")).text
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")
    assert ready.json()["checks"] == {"warmup": "warming up: 1 of 3 modules", "draining": "ok"}
    assert draining.status_code == 503
    assert draining.json()["checks"]["draining"].startswith("draining")
    assert 'wess_ready_check{check="draining"} 0.0' in metrics
    assert 'check="warmup"' not in metrics


async def test_readyz_is_503_when_a_dependency_fails(client):
    """A failing probe makes readiness 503 and names what failed."""

    async def broken() -> None:
        raise RuntimeError("disk on fire")

    state: ApiState = client.state
    failing = dataclasses.replace(state, health=HealthCheck({"storage": broken}))
    sites = site_policy(client.settings, port=client.settings.server.port)
    transport = httpx.ASGITransport(app=create_app(failing, sites=sites, access_log=None))
    async with httpx.AsyncClient(transport=transport, base_url=client.base_url) as other:
        response = await other.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"storage": "disk on fire"}


async def test_metrics_are_prometheus_text_with_wess_names(client, upload):
    """/metrics exports request, error, storage, cache, compile, execution and queue series."""
    module = await upload("sum")
    await client.post(f"/v1/modules/{module['id']}/run", json={"args": [1, 2]})
    await client.post(f"/v1/modules/{module['id']}/run", json={"args": [1, 2]})
    await client.get("/v1/modules/ABCDEF00-0000-4000-8000-000000000000")  # a UUID, misspelt
    text = (await client.get("/metrics")).text
    for name in (
        'wess_http_requests_total{method="POST",path="/v1/modules/{module_id}/run",'
        'route="/v1/modules/{module_id}/run",status="200"} 2.0',
        "wess_http_request_duration_seconds_bucket",
        'wess_errors_total{code="invalid_module_id"} 1.0',
        "wess_storage_operations_total",
        "wess_storage_operation_duration_seconds",
        'wess_cache_hits_total{cache="modules"}',
        "wess_compile_duration_seconds",
        "wess_execution_duration_seconds",
        'wess_queue_depth{queue="writer"}',
    ):
        assert name in text, name


async def test_request_id_is_echoed_or_generated(client):
    """A sane client X-Request-ID is kept; otherwise Wess makes one; problems carry it."""
    given = await client.get("/v1/modules/nope", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    assert given.json()["request_id"] == "abc-123"
    odd = await client.get("/healthz", headers={"x-request-id": "no spaces allowed"})
    assert odd.headers["x-request-id"] != "no spaces allowed"
    assert len(odd.headers["x-request-id"]) == 32


async def test_unknown_routes_and_methods(client):
    """An unknown route is a 404 problem; an unlisted method a 405 with Allow."""
    assert_problem(await client.get("/v1/nothing/here"), 404, "not_found")
    response = await client.patch("/v1/modules")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_unexpected_errors_hide_their_details(client, upload, monkeypatch):
    """An unexpected exception is a bare 500: no message, no traceback, a request id."""
    module = await upload("sum")
    state: ApiState = client.state

    async def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(state.service, "info", explode)
    response = await client.get(f"/v1/modules/{module['id']}")
    assert_problem(response, 500, "internal_error")
    assert "secret" not in response.text


async def test_openapi_describes_every_v1_operation(client):
    """Every /v1 operation is in /openapi.json with its body, responses and problems."""
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    expected = {
        ("/v1/modules", "post"),
        ("/v1/modules", "get"),
        ("/v1/modules/{module_id}", "get"),
        ("/v1/modules/{module_id}", "put"),
        ("/v1/modules/{module_id}", "delete"),
        ("/v1/modules/{module_id}/wasm", "get"),
        ("/v1/modules/{module_id}/run", "post"),
    }
    for path, method in expected:
        operation = paths[path][method]
        assert any(status.startswith("2") for status in operation["responses"]), (path, method)
        assert any(status.startswith("4") for status in operation["responses"]), (path, method)
    upload = paths["/v1/modules"]["post"]["requestBody"]["content"]
    assert {"application/wasm", "application/json"} <= set(upload)
    schemas = document["components"]["schemas"]
    assert {"ModuleUpload", "RunRequest", "Problem", "ModuleResource", "RunResult"} <= set(schemas)
    problem = paths["/v1/modules/{module_id}/run"]["post"]["responses"]["422"]
    assert "application/problem+json" in problem["content"]
