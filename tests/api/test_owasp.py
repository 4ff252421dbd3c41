"""The OWASP API Security Top 10 (2023), as cases against the real app.

API1 broken object level authorization: the tenant-isolation matrix.
API2 broken authentication: missing, malformed, unknown, revoked, expired, in the URL.
API3 broken object property level authorization: properties a client must not set.
API4 unrestricted resource consumption: body size, rate limits, page size.
API5 broken function level authorization: the role x endpoint matrix.
API8 security misconfiguration: no stack traces, unlisted methods, every route guarded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.api.security_helpers import WASM, bearer, mint, upload_as
from tests.fixtures import wasm
from tests.fixtures.generated import slow_to_compile
from wess.api.app import ROUTERS, build_api
from wess.api.guard import declared
from wess.testing import assert_problem, open_client, test_settings

LEGACY_BODY = json.dumps(
    {
        "wasm": list(wasm("sum")),
        "metadata": {"functionName": "sum", "returnType": ["I32"], "args": ["I32", "I32"]},
    }
).encode()


def module_requests(module_id: str) -> list[tuple[str, str, dict]]:
    """Every operation on one module, in both APIs: (method, path, request kwargs)."""
    return [
        ("GET", f"/v1/modules/{module_id}", {}),
        ("GET", f"/v1/modules/{module_id}/wasm", {}),
        ("PUT", f"/v1/modules/{module_id}", {"content": wasm("sum"), "headers": WASM}),
        ("DELETE", f"/v1/modules/{module_id}", {}),
        ("POST", f"/v1/modules/{module_id}/run", {"json": {"args": [1, 2]}}),
        ("GET", f"/{module_id}", {}),
        ("PUT", f"/{module_id}", {"content": LEGACY_BODY}),
        ("DELETE", f"/{module_id}", {}),
        ("POST", f"/{module_id}", {"content": b"[1, 2]"}),
    ]


# -- API1: object level authorization ----------------------------------------------------------


async def test_another_namespaces_module_is_404_on_every_operation(client):
    """Every endpoint and method, given another namespace's module id, answers 404 and
    changes nothing: a tenant cannot even learn that the module exists."""
    owner = await mint(client, "team-a", "developer")
    stranger = await mint(client, "team-b", "developer")
    module_id = await upload_as(client, owner)
    for method, path, kwargs in module_requests(module_id):
        headers = {**kwargs.pop("headers", {}), **bearer(stranger)}
        response = await client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        if path.startswith("/v1"):
            assert response.json()["code"] == "module_not_found"
    listed = (await client.get("/v1/modules", headers=bearer(stranger))).json()["items"]
    assert listed == []
    assert (await client.get("/", headers=bearer(stranger))).json() == {"message": 0}
    still = await client.post(
        f"/v1/modules/{module_id}/run", json={"args": [1, 2]}, headers=bearer(owner)
    )
    assert still.json()["results"] == [3]


async def test_modules_land_in_the_callers_namespace_and_admins_see_all(client):
    """A developer's upload goes to its own namespace; an admin reads every namespace."""
    developer = await mint(client, "team-a", "developer")
    module_id = await upload_as(client, developer)
    mine = await client.get(f"/v1/modules/{module_id}", headers=bearer(developer))
    assert mine.json()["namespace"] == "team-a"
    assert (await client.get(f"/v1/modules/{module_id}")).status_code == 200  # admin


# -- API2: authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer wess_0123456789abcdef_" + "A" * 43,
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
    ],
)
async def test_missing_malformed_and_unknown_credentials_are_401(authorization):
    """No credentials, a malformed header, an unknown key or an unsigned JWT: 401 with
    WWW-Authenticate, and one generic message whatever the reason."""
    async with open_client(test_settings(), as_admin=False) as client:
        headers = {"authorization": authorization} if authorization is not None else {}
        response = await client.get("/v1/modules", headers=headers)
        body = assert_problem(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert body["detail"] in ("missing or invalid credentials",)
        text = (await client.get("/metrics")).text
        assert "wess_auth_failures_total" in text


async def test_a_wrong_secret_for_a_real_key_id_is_401(client):
    """A real key id with a forged secret is refused like any unknown key."""
    token = await mint(client, "team-a", "viewer")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = await client.get("/v1/modules", headers=bearer(forged))
    assert_problem(response, 401, "unauthenticated")


async def test_a_revoked_key_is_refused_at_once(client):
    """DELETE /v1/keys/{id} answers 204 and the very next request with the key is 401."""
    created = await client.post("/v1/keys", json={"namespace": "team-a", "role": "viewer"})
    key = created.json()
    assert (await client.get("/v1/modules", headers=bearer(key["token"]))).status_code == 200
    assert (await client.delete(f"/v1/keys/{key['id']}")).status_code == 204
    response = await client.get("/v1/modules", headers=bearer(key["token"]))
    assert_problem(response, 401, "unauthenticated")
    assert_problem(await client.delete(f"/v1/keys/{key['id']}"), 404, "key_not_found")


async def test_an_expired_key_is_401(client):
    """A key past its expires_at is refused."""
    expires = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    token = await mint(client, "team-a", "viewer", expires_at=expires)
    assert (await client.get("/v1/modules", headers=bearer(token))).status_code == 200
    await asyncio.sleep(1.2)
    assert_problem(await client.get("/v1/modules", headers=bearer(token)), 401, "unauthenticated")


@pytest.mark.parametrize("name", ["api_key", "token", "access_token", "key"])
async def test_credentials_in_the_query_string_are_refused(client, name):
    """A key in the URL (where logs and proxies keep it) is refused, even a valid one."""
    token = client.headers["authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(transport=client._transport, base_url="http://wess") as bare:
        response = await bare.get("/v1/modules", params={name: token})
    body = assert_problem(response, 401, "unauthenticated")
    assert "query string" in body["detail"]


async def test_auth_failures_are_audited(client):
    """Failed authentications and permission denials leave audit entries."""
    viewer = await mint(client, "team-a", "viewer")
    await client.get("/v1/modules", headers={"authorization": "Bearer wess_bad"})
    await client.post("/v1/modules", content=wasm("sum"), headers={**WASM, **bearer(viewer)})
    entries = (await client.get("/v1/audit", params={"limit": "1000"})).json()["items"]
    outcomes = {(e["action"], e["outcome"]) for e in entries}
    assert ("access:module:read", "unauthenticated") in outcomes
    assert ("module.create", "permission_denied") in outcomes


# -- API3: properties a client must not set -----------------------------------------------------


@pytest.mark.parametrize("field", ["namespace", "owner", "revision", "digest", "id"])
async def test_server_owned_properties_are_rejected(client, field):
    """namespace, owner, revision ... belong to Wess: sending them is a 400, in both forms."""
    import base64

    content = base64.b64encode(wasm("sum")).decode()
    response = await client.post("/v1/modules", json={"content": content, field: "x"})
    assert field in assert_problem(response, 400, "invalid_request")["detail"]
    raw = await client.post("/v1/modules", content=wasm("sum"), headers=WASM, params={field: "x"})
    assert field in assert_problem(raw, 400, "invalid_request")["detail"]


async def test_key_requests_reject_unknown_fields(client):
    """A key request cannot smuggle in an id, a hash or a creation time."""
    response = await client.post(
        "/v1/keys", json={"namespace": "a", "role": "viewer", "hash": "00"}
    )
    assert_problem(response, 400, "invalid_request")


# -- API4: resource consumption ------------------------------------------------------------------


async def test_rate_limit_per_client_address_is_429_with_headers():
    """Past the per-address limit: 429, Retry-After and RateLimit-* headers, counted."""
    async with open_client(test_settings(WESS_RATELIMIT_PER_IP="5/minute")) as client:
        statuses = [(await client.get("/healthz")).status_code for _ in range(5)]
        assert statuses == [200] * 5
        response = await client.get("/healthz")
        assert_problem(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1
        assert response.headers["ratelimit-limit"] == "5"
        assert response.headers["ratelimit-remaining"] == "0"


async def test_rate_limit_per_key_is_429():
    """Past the per-key limit: 429 for that key, while another key still gets in."""
    async with open_client(
        test_settings(WESS_RATELIMIT_PER_KEY="3/minute", WESS_RATELIMIT_PER_IP="1000/minute")
    ) as client:
        viewer = await mint(client, "team-a", "viewer")
        other = await mint(client, "team-b", "viewer")
        for _ in range(3):
            assert (await client.get("/v1/modules", headers=bearer(viewer))).status_code == 200
        assert_problem(await client.get("/v1/modules", headers=bearer(viewer)), 429, "rate_limited")
        assert (await client.get("/v1/modules", headers=bearer(other))).status_code == 200


async def test_bodies_arguments_and_pages_are_capped(client):
    """Uploads past the size limit (413), too many arguments (400), pages past the cap
    (400) and audit pages past the cap (400)."""
    big = await client.post("/v1/modules", content=b"\0asm" + b"\0" * (3 << 20), headers=WASM)
    assert_problem(big, 413, "payload_too_large")
    assert_problem(
        await client.get("/v1/modules", params={"limit": "100000"}), 400, "invalid_request"
    )
    assert_problem(
        await client.get("/v1/audit", params={"limit": "100000"}), 400, "invalid_request"
    )
    module_id = await upload_as(client, client.headers["authorization"].split()[1])
    many = await client.post(f"/v1/modules/{module_id}/run", json={"args": [1] * 11})
    assert_problem(many, 400, "invalid_arguments")


# -- API5: function level authorization -----------------------------------------------------------

ROLES = ("admin", "developer", "invoker", "viewer")
# operation -> the roles allowed to perform it (in their own namespace)
ALLOWED = {
    "create": {"admin", "developer"},
    "list": set(ROLES),
    "read": set(ROLES),
    "download": {"admin", "developer"},
    "replace": {"admin", "developer"},
    "run": {"admin", "developer", "invoker"},
    "delete": {"admin", "developer"},
    "legacy_create": {"admin", "developer"},
    "legacy_count": set(ROLES),
    "legacy_read": {"admin", "developer"},
    "legacy_run": {"admin", "developer", "invoker"},
    "keys_create": {"admin"},
    "keys_list": {"admin"},
    "audit": {"admin"},
    "rotate_kek": {"admin"},
}


def operation(name: str, module_id: str) -> tuple[str, str, dict]:
    return {
        "create": ("POST", "/v1/modules", {"content": wasm("sum"), "headers": WASM}),
        "list": ("GET", "/v1/modules", {}),
        "read": ("GET", f"/v1/modules/{module_id}", {}),
        "download": ("GET", f"/v1/modules/{module_id}/wasm", {}),
        "replace": ("PUT", f"/v1/modules/{module_id}", {"content": wasm("sum"), "headers": WASM}),
        "run": ("POST", f"/v1/modules/{module_id}/run", {"json": {"args": [1, 2]}}),
        "delete": ("DELETE", f"/v1/modules/{module_id}", {}),
        "legacy_create": ("POST", "/", {"content": LEGACY_BODY}),
        "legacy_count": ("GET", "/", {}),
        "legacy_read": ("GET", f"/{module_id}", {}),
        "legacy_run": ("POST", f"/{module_id}", {"content": b"[1, 2]"}),
        "keys_create": ("POST", "/v1/keys", {"json": {"namespace": "x", "role": "viewer"}}),
        "keys_list": ("GET", "/v1/keys", {}),
        "audit": ("GET", "/v1/audit", {}),
        "rotate_kek": ("POST", "/v1/admin/rotate-kek", {}),
    }[name]


@pytest.mark.parametrize("role", ROLES)
async def test_role_by_endpoint_matrix(client, role):
    """Each role may do what the role table grants, in its namespace; else 403."""
    token = await mint(client, "team-a", role)
    owner = await mint(client, "team-a", "developer")
    for name, allowed in ALLOWED.items():
        module_id = await upload_as(client, owner)
        method, path, kwargs = operation(name, module_id)
        headers = {**kwargs.pop("headers", {}), **bearer(token)}
        response = await client.request(method, path, headers=headers, **kwargs)
        if role in allowed:
            # allowed: anything but 401/403 (rotate-kek is a 400 with encryption off)
            assert response.status_code not in (401, 403), (role, name, response.text)
        else:
            assert response.status_code == 403, (role, name, response.status_code)
            body = response.json()
            if path.startswith("/v1"):
                assert body["code"] == "permission_denied"
            else:  # the original API keeps its own error shape
                assert set(body) == {"message"}


# -- API8: misconfiguration ------------------------------------------------------------------------


async def test_every_route_declares_its_permission(client):
    """Deny by default: every API route, the original Wess routes included, names the
    permission it needs; FastAPI's own documentation routes are the only exceptions."""
    missing = []
    for router in ROUTERS:
        for route in router.routes:
            permission, _ = declared(route)
            if permission is None:
                missing.append(getattr(route, "path", route))
    assert missing == []
    documentation = {"/openapi.json", "/docs", "/docs/oauth2-redirect"}
    ours = {getattr(r, "path", None) for router in ROUTERS for r in router.routes}
    served = {getattr(r, "path", None) for r in build_api(client.state).routes}
    assert served - ours - {None} == documentation  # FastAPI's own additions: public docs


async def test_errors_never_carry_stack_traces(client):
    """A sweep of bad requests: every error body is a problem or a message, no traces."""
    probes = [
        ("POST", "/v1/modules", {"content": b"\0asm garbage", "headers": WASM}),
        ("POST", "/v1/modules", {"content": b"{", "headers": {"content-type": "application/json"}}),
        ("GET", "/v1/modules/xyz", {}),
        ("POST", "/v1/modules/00000000-0000-4000-8000-000000000000/run", {"json": {}}),
        ("PATCH", "/v1/modules", {}),
        ("POST", "/", {"content": b"[not json"}),
        ("GET", "/v1/keys/nope", {}),
        ("POST", "/v1/keys", {"json": {"role": "emperor"}}),
    ]
    for method, path, kwargs in probes:
        response = await client.request(method, path, **kwargs)
        assert response.status_code >= 400, (method, path)
        assert "Traceback" not in response.text
        assert 'File "' not in response.text


async def test_unlisted_methods_are_405(client):
    """Methods a path does not offer are 405 with Allow, on both APIs."""
    for method, path in (("PATCH", "/v1/modules"), ("PUT", "/v1/keys"), ("PATCH", "/healthz")):
        response = await client.request(method, path)
        assert_problem(response, 405, "method_not_allowed")
        assert response.headers["allow"]


async def test_namespace_quotas_are_507_with_a_clear_problem():
    """Past quotas.max_modules (or max_bytes) a namespace's upload is 507, naming the quota;
    other namespaces are unaffected, and deleting frees room."""
    async with open_client(test_settings(WESS_QUOTAS_MAX_MODULES="2")) as client:
        team_a = await mint(client, "team-a", "developer")
        team_b = await mint(client, "team-b", "developer")
        first = await upload_as(client, team_a)
        await upload_as(client, team_a)
        refused = await client.post(
            "/v1/modules", content=wasm("sum"), headers={**WASM, **bearer(team_a)}
        )
        body = assert_problem(refused, 507, "quota_exceeded")
        assert "team-a" in body["detail"]
        await upload_as(client, team_b)
        assert (
            await client.delete(f"/v1/modules/{first}", headers=bearer(team_a))
        ).status_code == 204
        await upload_as(client, team_a)


# -- API4: fair sharing between tenants, coarse guest clocks -----------------------------------


async def until(condition, what: str) -> None:
    """Yield to the app until ``condition()``; a bound on the wait, not a timing."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never: {what}")


async def test_a_tenant_saturating_the_invocation_pool_does_not_delay_another():
    """Issue 8.3, the attack: tenant b runs 4 calls on each of two infinite-loop modules.
    b holds its share of the threads (half the pool) and its other calls are refused at
    once with 503 namespace_busy and Retry-After; tenant a's call is answered while b's
    calls still hold their threads (it ran beside them, not behind them)."""
    settings = test_settings(
        WESS_RUNNER_WORKERS="4",
        WESS_RUNNER_MODULE_CONCURRENCY="4",
        WESS_RUNNER_NAMESPACE_QUEUE="0",
        WESS_RUNNER_INLINE_FUEL="0",  # a's call goes to the pool too
    )
    async with open_client(settings) as client:
        calls = client.state.service.runner.invocations
        team_a = await mint(client, "a", "developer")
        team_b = await mint(client, "b", "developer")
        loops = [await upload_as(client, team_b, "traps"), await upload_as(client, team_b, "burn")]
        small = await upload_as(client, team_a)
        forever = [{"function": "spin"}, {"function": "burn", "args": [2**62]}]
        b_calls = [
            asyncio.create_task(
                client.post(f"/v1/modules/{module}/run", json=body, headers=bearer(team_b))
            )
            for module, body in zip(loops, forever, strict=True)
            for _ in range(4)
        ]
        await until(lambda: calls.running("b") == 2, "b holds its share")
        await until(lambda: sum(task.done() for task in b_calls) == 6, "b's others answered")
        for refused in (task.result() for task in b_calls if task.done()):
            body = assert_problem(refused, 503, "namespace_busy")
            assert "'b'" in body["detail"]
            assert int(refused.headers["retry-after"]) >= 1
        answer = await client.post(
            f"/v1/modules/{small}/run", json={"args": [2, 3]}, headers=bearer(team_a)
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"] == [5]
        assert calls.running("b") == 2  # b's loops still on their threads
        running = [task for task in b_calls if not task.done()]
        assert len(running) == 2
        for timed_out in await asyncio.gather(*running):
            assert_problem(timed_out, 408, "timeout")


async def test_a_tenant_s_compile_bombs_do_not_delay_another_s_upload():
    """Issue 8.3, the compile attack: b's module that takes seconds to compile holds one
    of the two compile workers (its share); b's next upload is 503 namespace_busy at
    once, and a's small upload is stored while b's compile still runs."""
    settings = test_settings(
        WESS_LIMITS_COMPILE_WORKERS="2", WESS_LIMITS_NAMESPACE_COMPILE_QUEUE="0"
    )
    async with open_client(settings) as client:
        compiles = client.state.service.runner.compiles
        team_a = await mint(client, "a", "developer")
        team_b = await mint(client, "b", "developer")

        def bomb() -> Awaitable[httpx.Response]:
            return client.post(
                "/v1/modules", content=slow_to_compile(), headers={**WASM, **bearer(team_b)}
            )

        first = asyncio.create_task(bomb())
        await until(lambda: compiles.running("b") == 1, "b's bomb compiling")
        assert_problem(await bomb(), 503, "namespace_busy")
        small = await client.post(
            "/v1/modules", content=wasm("sum"), headers={**WASM, **bearer(team_a)}
        )
        assert small.status_code == 201, small.text
        assert compiles.running("b") == 1  # b's bomb still compiling
        assert not first.done()
        assert (await first).status_code in (201, 422)  # stored, or over the CPU cap


async def test_guests_read_the_configured_clock_resolution():
    """Issue 8.12: limits.clock_resolution_ms reaches the guests: WASI's clocks read in
    multiples of it, and clock_res_get reports it."""
    async with open_client(test_settings(WESS_LIMITS_CLOCK_RESOLUTION_MS="5")) as client:
        created = await client.post("/v1/modules", content=wasm("clock"), headers=WASM)
        url = f"/v1/modules/{created.json()['id']}/run"
        resolution = await client.post(url, json={"function": "resolution", "args": [0]})
        assert resolution.json()["results"] == [5_000_000]
        for clock in (0, 1):
            readings = await client.post(url, json={"function": "twice", "args": [clock]})
            assert [t % 5_000_000 for t in readings.json()["results"]] == [0, 0]
