"""The OWASP API Security Top 10 (2023), as cases against the real app.

API1 broken object level authorization: the tenant-isolation matrix.
API2 broken authentication: missing, malformed, unknown, revoked, expired, in the URL.
API3 broken object property level authorization: properties a client must not set.
API4 unrestricted resource consumption: body size, rate limits, page size.
API5 broken function level authorization: the role x endpoint matrix.
API8 security misconfiguration: no stack traces, unlisted methods, every route guarded.

The second round (issue 8): cross-site requests and DNS rebinding (Host, Origin, CORS),
no redirects built from request headers, request ids, JWT claims, and, against real
servers, forwarded headers from untrusted peers and slow connections.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.api.security_helpers import WASM, bearer, mint, upload_as
from tests.fixtures import wasm
from tests.fixtures.generated import exporting, slow_to_compile
from tests.support import ServerProcess, until
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
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as bare:
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
    permission it needs; FastAPI's own /openapi.json is the only exception."""
    missing = []
    for router in ROUTERS:
        for route in router.routes:
            permission, _ = declared(route)
            if permission is None:
                missing.append(getattr(route, "path", route))
    assert missing == []
    documentation = {"/openapi.json"}
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


# -- issue 8: failed logins must not fill the disk --------------------------------------------


async def test_a_flood_of_failed_logins_leaves_one_bounded_entry():
    """200 requests with a bad key and a 64 KB path (they once added 12.9 MB in 0.7 s):
    one entry for the window (the rest are counted and written as one when it ends),
    its target cut to a bound with a marker."""
    settings = test_settings(WESS_AUDIT_REFUSAL_WINDOW="86400")
    async with open_client(settings) as client:
        before = len((await client.get("/v1/audit", params={"limit": "1000"})).json()["items"])
        path = "/v1/modules/" + "a" * 65_000
        for i in range(200):
            response = await client.get(
                path, headers={"authorization": f"Bearer wess_{i:016x}_{'x' * 43}"}
            )
            assert response.status_code == 401
        entries = (await client.get("/v1/audit", params={"limit": "1000"})).json()["items"]
    added = entries[before:]
    assert [(e["outcome"], e["count"]) for e in added] == [("unauthenticated", 1)]
    assert len(added[0]["target"]) < 300
    assert "[+" in added[0]["target"]


# -- API4: what one request can make the server hold (catalogues, pages, bodies) --------------

JSON = {"content-type": "application/json"}
SUMMARY_FIELDS = {
    "id",
    "name",
    "namespace",
    "digest",
    "size",
    "revision",
    "created_at",
    "updated_at",
    "default_function",
    "function_count",
}


async def test_modules_past_the_export_caps_are_422_naming_the_cap():
    """More exports than limits.max_exports, or a name longer than
    limits.max_export_name, is refused before compiling, with the cap in the detail;
    at the caps the module is accepted."""
    settings = test_settings(WESS_LIMITS_MAX_EXPORTS="3", WESS_LIMITS_MAX_EXPORT_NAME="8")
    async with open_client(settings) as client:
        at_caps = await client.post(
            "/v1/modules", content=exporting(("a", "b", "c" * 8)), headers=WASM
        )
        assert at_caps.status_code == 201, at_caps.text
        many = await client.post(
            "/v1/modules", content=exporting(("a", "b", "c", "d")), headers=WASM
        )
        detail = assert_problem(many, 422, "invalid_exports")["detail"]
        assert "4 exports" in detail
        assert "limits.max_exports" in detail
        assert "3" in detail
        long = await client.post("/v1/modules", content=exporting(("a", "c" * 9)), headers=WASM)
        detail = assert_problem(long, 422, "invalid_exports")["detail"]
        assert "limits.max_export_name" in detail
        assert repr("c" * 9) in detail


async def test_the_export_caps_are_checked_before_the_module_is_compiled():
    """A module over the export cap whose code does not even validate is refused for
    its exports: the caps are read from the bytes before wasmtime sees them."""
    invalid = exporting(("a", "b"))[:-2] + b"\x7c\x0b"  # i64.add of two i32s, then end
    async with open_client(test_settings()) as client:
        response = await client.post("/v1/modules", content=invalid, headers=WASM)
        assert_problem(response, 422, "invalid_wasm")
    async with open_client(test_settings(WESS_LIMITS_MAX_EXPORTS="1")) as client:
        response = await client.post("/v1/modules", content=invalid, headers=WASM)
        assert_problem(response, 422, "invalid_exports")


@pytest.mark.parametrize(
    "name", ["crlf\r\nX-Injected: 1", "nul\0", "tab\there", "bidi\u202eevil", "del\x7f", ""]
)
async def test_export_names_with_control_characters_are_422_naming_them(client, name):
    """Export names are 1 to limits.max_export_name printable characters: a CR, LF,
    NUL, tab, DEL or bidi override (or an empty name) refuses the upload, naming it."""
    response = await client.post("/v1/modules", content=exporting(("sum", name)), headers=WASM)
    detail = assert_problem(response, 422, "invalid_exports")["detail"]
    assert repr(name) in detail
    assert "'sum'" not in detail  # only the offenders are named


async def test_listings_carry_summaries_and_the_resource_its_catalogue(client, upload):
    """GET /v1/modules lists summaries (the function count, not the catalogue), so a
    listing's size does not grow with what modules export; GET /v1/modules/{id} is the
    summary and the whole catalogue."""
    created = await upload("numbers")
    page = (await client.get("/v1/modules")).json()
    (item,) = page["items"]
    assert set(item) == SUMMARY_FIELDS
    assert item["function_count"] == len(created["functions"]) > 1
    resource = (await client.get(f"/v1/modules/{item['id']}")).json()
    assert resource["functions"] == created["functions"]
    assert {key: resource[key] for key in SUMMARY_FIELDS} == item


async def test_a_listing_page_ends_early_at_its_byte_bound_never_cutting_an_item():
    """With limits.max_page_bytes = 1024, a page of limit=100 ends (with a next_cursor)
    before its body exceeds 1024 bytes; following the cursors lists every module once,
    in order, each item whole."""
    async with open_client(test_settings(WESS_LIMITS_MAX_PAGE_BYTES="1024")) as client:
        ids = []
        for index in range(7):
            response = await client.post(
                "/v1/modules", content=wasm("sum"), headers=WASM, params={"name": f"m{index}"}
            )
            ids.append(response.json()["id"])
        listed, pages, cursor = [], 0, None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            response = await client.get("/v1/modules", params=params)
            assert response.status_code == 200
            assert len(response.content) <= 1024
            page = response.json()
            assert page["items"]
            assert all(set(i) == SUMMARY_FIELDS for i in page["items"])
            listed += [item["id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert listed == sorted(ids)
        assert pages >= 3


class CodecSpy:
    """orjson as a module sees it, recording the thread of every loads and dumps."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []  # (loads | dumps, bytes, thread id)

    def loads(self, data, *args, **kwargs):
        self.calls.append(("loads", len(data), threading.get_ident()))
        return orjson.loads(data, *args, **kwargs)

    def dumps(self, value, *args, **kwargs):
        out = orjson.dumps(value, *args, **kwargs)
        self.calls.append(("dumps", len(out), threading.get_ident()))
        return out

    def __getattr__(self, name):
        return getattr(orjson, name)


async def test_large_json_is_parsed_and_encoded_off_the_event_loop(client, monkeypatch):
    """A large upload body is parsed, and a large catalogue encoded, on a worker thread,
    never on the event loop's; small run requests and answers stay on the loop."""
    from wess.api import bodies, resources, runs

    spy = CodecSpy()
    for module in (bodies, resources, runs):
        monkeypatch.setattr(module, "orjson", spy)
    loop = threading.get_ident()
    names = tuple(f"{index:04d}" + "f" * 96 for index in range(800))  # ~110 KB of names
    content = base64.b64encode(exporting(names)).decode()
    created = await client.post("/v1/modules", json={"content": content, "function": names[0]})
    assert created.status_code == 201, created.text
    module_id = created.json()["id"]
    assert len((await client.get(f"/v1/modules/{module_id}")).content) > 100_000
    run = await client.post(f"/v1/modules/{module_id}/run", json={"args": [1, 2]})
    assert run.json()["results"] == [3]
    large = {(kind, thread) for kind, size, thread in spy.calls if size > 64 * 1024}
    assert {kind for kind, _ in large} == {"loads", "dumps"}
    assert all(thread != loop for _, thread in large)
    small = {(kind, thread) for kind, size, thread in spy.calls if size < 1024}
    assert {kind for kind, _ in small} == {"loads", "dumps"}
    assert all(thread == loop for _, thread in small)


async def test_a_json_upload_with_many_unknown_keys_gets_a_short_problem(client):
    """3,000 unknown keys: a 400 naming the first few and counting the rest, not a
    message as long as the body."""
    keys = {f"k{index:06d}": 0 for index in range(3000)}
    response = await client.post(
        "/v1/modules", content=orjson.dumps({"content": "", **keys}), headers=JSON
    )
    detail = assert_problem(response, 400, "invalid_request")["detail"]
    assert len(response.content) < 2048
    assert detail.startswith("unknown field(s): k000000, k000001, k000002, k000003, k000004")
    assert "and 2,995 more" in detail


@pytest.mark.parametrize("path", ["/v1/modules", "/"])
async def test_a_body_of_700000_keys_is_refused_unparsed(client, monkeypatch, path):
    """The issue's 8 MiB body of 700,000 unknown keys, on both APIs: a short 400 that
    counts them, and the body is never parsed (orjson holds the GIL while it parses: half
    a second of a stalled server, whichever thread did it)."""
    from wess.api import bodies

    spy = CodecSpy()
    monkeypatch.setattr(bodies, "orjson", spy)
    keys = ",".join(f'"k{index:06d}":0' for index in range(700_000))
    body = ('{"content":"",' + keys + "}").encode()
    response = await client.post(path, content=body, headers=JSON)
    assert response.status_code == 400
    assert len(response.content) < 1024
    text = response.json()["detail" if path.startswith("/v1") else "message"]
    assert "700,001 object members" in text
    assert [call for call in spy.calls if call[0] == "loads"] == []


async def test_nested_unknown_keys_and_long_lists_get_a_short_problem(client):
    """Unknown keys inside the signature, and lists of bad types, are refused with a
    bounded problem too: one error for a list, not one per item."""
    keys = {f"k{index:06d}": 0 for index in range(3000)}
    nested = await client.post(
        "/v1/modules", content=orjson.dumps({"content": "", "signature": keys}), headers=JSON
    )
    detail = assert_problem(nested, 400, "invalid_request")["detail"]
    assert detail.startswith("unknown field(s) in signature: k000000, k000001")
    assert "and 2,995 more" in detail
    assert len(nested.content) < 2048
    for count in (1500, 1_000_000):
        types = {"content": "", "signature": {"params": ["x"] * count}}
        listed = await client.post("/v1/modules", content=orjson.dumps(types), headers=JSON)
        assert_problem(listed, 400, "invalid_request")
        assert len(listed.content) < 1024


async def test_a_run_request_with_many_unknown_keys_gets_a_short_problem(client, upload):
    """A run body (at most 64 KiB) full of unknown keys: a short 400."""
    module = await upload("sum", function="sum")
    keys = {f"k{index:04d}": 0 for index in range(4000)}
    response = await client.post(f"/v1/modules/{module['id']}/run", content=orjson.dumps(keys))
    detail = assert_problem(response, 400, "invalid_request")["detail"]
    assert "k0000, k0001" in detail
    assert "3,995 more" in detail
    assert len(response.content) < 2048


# -- Canonical names and ids ------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        lambda u: u.hex + "----",
        lambda u: str(u).upper(),
        lambda u: u.hex[:12] + "-" + u.hex[12:16] + "-" + u.hex[16:20] + "-" + u.hex[20:] + "-",
        lambda u: "{" + str(u) + "}",
        lambda u: "urn:uuid:" + str(u),
        lambda u: u.hex,
        lambda u: str(u) + "%0A",
    ],
    ids=["trailing-hyphens", "uppercase", "moved-hyphens", "braces", "urn", "hex", "newline"],
)
async def test_module_ids_are_accepted_only_in_their_canonical_form(client, upload, spelling):
    """A module id is its 36-character lowercase hyphenated form and nothing else: any
    other spelling of an existing module's id is a 400 on both APIs, never the module."""
    module = await upload("sum", function="sum")
    raw = spelling(uuid.UUID(module["id"]))
    for method, path, kwargs in (
        ("GET", f"/v1/modules/{raw}", {}),
        ("POST", f"/v1/modules/{raw}/run", {"json": {"args": [1, 2]}}),
        ("DELETE", f"/v1/modules/{raw}", {}),
    ):
        response = await client.request(method, path, **kwargs)
        assert_problem(response, 400, "invalid_module_id")
    legacy = await client.get(f"/{raw}")
    assert legacy.status_code == 400
    assert set(legacy.json()) == {"message"}
    assert (await client.get(f"/v1/modules/{module['id']}")).status_code == 200


@pytest.mark.parametrize("name", ["a\r\nb", "nul\0", "bidi\u202e", "x" * 129])
async def test_module_names_with_control_characters_are_400(client, name):
    """A module name is 1 to 128 printable characters, in either upload form."""
    raw = await client.post("/v1/modules", content=wasm("sum"), headers=WASM, params={"name": name})
    assert_problem(raw, 400, "invalid_request")
    content = base64.b64encode(wasm("sum")).decode()
    document = await client.post("/v1/modules", json={"content": content, "name": name})
    assert_problem(document, 400, "invalid_request")


# -- A client that goes away ----------------------------------------------------------------


@pytest.mark.e2e
def test_a_client_that_disconnects_mid_upload_is_a_client_abort(tmp_path):
    """Headers announcing 1,000,000 bytes, half of them, then a closed connection: the
    access log says 499 (client closed request), the log holds no traceback, and
    wess_errors_total{code="internal_error"} does not move."""
    server = ServerProcess(data_dir=tmp_path / "data", log_path=tmp_path / "wess.log").start()
    try:
        with server.client() as admin:
            before = _internal_errors(admin.get("/metrics").text)
            host, port = "127.0.0.1", server.port
            with socket.create_connection((host, port)) as sock:
                sock.sendall(
                    f"POST /v1/modules HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
                    + f"Authorization: Bearer {server.token}\r\n".encode()
                    + b"Content-Type: application/wasm\r\nContent-Length: 1000000\r\n\r\n"
                    + b"\0" * 500_000
                )
            aborted = _wait_for_access_line(server, "/v1/modules", "POST")
            assert aborted["status"] == 499
            assert _internal_errors(admin.get("/metrics").text) == before
        log = server.log()
        assert "Traceback" not in log
        assert "unhandled error" not in log
    finally:
        server.kill()


def _internal_errors(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith('wess_errors_total{code="internal_error"}'):
            return float(line.split()[-1])
    return 0.0


def _wait_for_access_line(server: ServerProcess, path: str, method: str) -> dict:
    """The access log line of the first ``method path`` request, once written (the
    server writes it when the request ends)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in server.log().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("event") == "request" and (entry.get("path"), entry.get("method")) == (
                    path,
                    method,
                ):
                    return entry
        time.sleep(0.05)
    raise AssertionError(f"no access log line for {method} {path}:\n{server.log()}")


# -- Cross-site requests: Host and Origin (issue 8, point 2) ---------------------------------------

ATTACKER = "http://attacker.example"


async def test_a_cross_site_request_with_auth_off_creates_and_runs_nothing():
    """With authentication off on 127.0.0.1, a web page's text/plain POST (no preflight)
    is refused on every route, the raw run routes included: 421 for its own Host (DNS
    rebinding), 403 for its Origin; nothing is created. The original clients (no
    Origin) keep working."""
    settings = test_settings(WESS_AUTH_ENABLED="false")
    async with open_client(settings, as_admin=False) as client:
        page = {"origin": ATTACKER, "content-type": "text/plain"}
        rebound = await client.post(
            "/", content=LEGACY_BODY, headers={**page, "host": "attacker.example"}
        )
        assert_problem(rebound, 421, "host_not_allowed")
        cross = await client.post("/", content=LEGACY_BODY, headers=page)
        assert_problem(cross, 403, "origin_not_allowed")
        assert (await client.get("/")).json() == {"message": 0}

        created = await client.post("/", content=LEGACY_BODY)  # an original client
        assert created.status_code == 202, created.text
        module_id = created.json()["message"]["id"]
        for path, body in ((f"/{module_id}", b"[1, 2]"), (f"/v1/modules/{module_id}/run", b"{}")):
            assert_problem(
                await client.post(path, content=body, headers=page), 403, "origin_not_allowed"
            )
            rebound = await client.post(path, content=body, headers={"host": "attacker.example"})
            assert_problem(rebound, 421, "host_not_allowed")
        assert (await client.post(f"/{module_id}", content=b"[1, 2]")).json() == {"message": [3]}


@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:8080", "127.0.0.1:9999", "127.0.0.1.nip.io:8080"]
)
async def test_a_host_the_server_does_not_answer_to_is_421_everywhere(client, host):
    """DNS rebinding: any Host but the bound address (and the loopback names on a loopback
    bind) is refused, even on public routes, before authentication."""
    for method, path in (("GET", "/healthz"), ("GET", "/v1/modules"), ("GET", "/docs")):
        response = await client.request(method, path, headers={"host": host})
        body = assert_problem(response, 421, "host_not_allowed")
        assert "server.allowed_hosts" in body["detail"]


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST:8080"]
)
async def test_the_loopback_names_and_same_origin_pages_are_served(client, host):
    """On a loopback bind the loopback names are served, and a page of the server's own
    origin (the /docs page in a browser) may post: same-origin, no CORS headers."""
    own = f"http://{host.lower()}"
    response = await client.post(
        "/v1/modules", content=wasm("sum"), headers={**WASM, "host": host, "origin": own}
    )
    assert response.status_code == 201, response.text
    assert "access-control-allow-origin" not in response.headers


async def test_configured_host_names_are_served_and_a_wildcard_serves_any():
    """server.allowed_hosts adds names (on any port, or on one); `*` admits every Host."""
    named = test_settings(WESS_SERVER_ALLOWED_HOSTS="wess.example,api.example:443")
    async with open_client(named) as client:
        for host in ("wess.example", "wess.example:9000", "api.example:443"):
            assert (await client.get("/healthz", headers={"host": host})).status_code == 200
        refused = await client.get("/healthz", headers={"host": "api.example:8443"})
        assert_problem(refused, 421, "host_not_allowed")
    async with open_client(test_settings(WESS_SERVER_ALLOWED_HOSTS="*")) as client:
        assert (
            await client.get("/healthz", headers={"host": "anything.example"})
        ).status_code == 200


async def test_cors_preflights_and_answers_for_allowed_origins_only():
    """An origin of server.cors_origins gets its preflight answered (204 with the
    methods and headers it may use) and Access-Control-Allow-Origin on answers; any
    other origin is refused, preflight or not."""
    app = "https://app.example"
    async with open_client(test_settings(WESS_SERVER_CORS_ORIGINS=app)) as client:
        preflight = await client.options(
            "/v1/modules",
            headers={
                "origin": app,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == app
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "authorization" in preflight.headers["access-control-allow-headers"]
        assert preflight.headers["vary"] == "origin"
        listed = await client.get("/v1/modules", headers={"origin": app})
        assert listed.status_code == 200
        assert listed.headers["access-control-allow-origin"] == app
        assert "x-request-id" in listed.headers["access-control-expose-headers"]

        evil = {"origin": "https://evil.example", "access-control-request-method": "POST"}
        assert_problem(await client.options("/v1/modules", headers=evil), 403, "origin_not_allowed")
        refused = await client.get("/v1/modules", headers={"origin": "https://evil.example"})
        assert_problem(refused, 403, "origin_not_allowed")
        assert "access-control-allow-origin" not in refused.headers
        null = await client.get("/v1/modules", headers={"origin": "null"})
        assert_problem(null, 403, "origin_not_allowed")


# -- No redirects built from request headers (issue 8, point 10) ----------------------------------


async def test_a_trailing_slash_is_404_never_a_redirect_to_the_requests_host():
    """`GET /v1/modules/` answers 404, with no Location: the redirect Starlette built from
    the request's Host sent clients wherever that header said."""
    async with open_client(test_settings(WESS_SERVER_ALLOWED_HOSTS="*")) as client:
        module_id = await upload_as(client, client.headers["authorization"].split()[1])
        for path in ("/v1/modules/", f"/v1/modules/{module_id}/", "/v1/keys/", "/healthz/"):
            response = await client.get(path, headers={"host": "evil.example"})
            assert_problem(response, 404, "not_found")
            assert "location" not in response.headers


# -- Request ids (issue 8, point 12) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [b"abc\n", b"abc\r\nx-forged: 1", b"a" * 65, "r\u00e9quete".encode(), b"a b", b"\x1b[31mred"],
)
async def test_a_malformed_request_id_is_replaced_by_ours_everywhere(client, sent):
    """A client's X-Request-ID with a line break, past 64 characters, or outside
    [A-Za-z0-9._-] never reaches the response header, the problem or the audit log: the
    request gets an id of ours."""
    response = await client.post(
        "/v1/modules", content=wasm("sum"), headers={**WASM, "x-request-id": sent}
    )
    assert response.status_code == 201, response.text
    ours = response.headers["x-request-id"]
    assert re.fullmatch("[0-9a-f]{32}", ours), ours
    problem = await client.get("/v1/modules/nope", headers={"x-request-id": sent})
    assert assert_problem(problem, 404, "module_not_found")["request_id"] != sent.decode("latin-1")
    entries = (await client.get("/v1/audit", params={"action": "module.create"})).json()["items"]
    assert [e["request_id"] for e in entries] == [ours]


async def test_a_well_formed_request_id_is_kept_verbatim(client):
    """An id of 1 to 64 characters of [A-Za-z0-9._-] (a UUID, a trace id) is the
    request's id: echoed, in problems and in the audit log."""
    sent = "trace-01.AB_cd-" + "9" * 49
    created = await client.post(
        "/v1/modules", content=wasm("sum"), headers={**WASM, "x-request-id": sent}
    )
    assert created.headers["x-request-id"] == sent
    problem = await client.get("/v1/modules/nope", headers={"x-request-id": sent})
    assert assert_problem(problem, 404, "module_not_found")["request_id"] == sent
    entries = (await client.get("/v1/audit", params={"action": "module.create"})).json()["items"]
    assert [e["request_id"] for e in entries] == [sent]


# -- JWT claims (issue 8, point 9) -----------------------------------------------------------------

JWT_ISSUER, JWT_AUDIENCE = "https://idp.example", "wess"


@pytest.fixture(scope="module")
def jwt_key(tmp_path_factory):
    """An RSA key pair: the private key signs tokens, the public PEM file verifies them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("jwt") / "public.pem"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, path


@pytest.mark.parametrize(
    "claims",
    [
        {"wess_ns": "a" * 5_000},
        {"wess_ns": "a" * 70_000},
        {"wess_ns": "team-a\r\nforged: yes"},
        {"wess_ns": ""},
        {"wess_ns": ["team-a"]},
        {"wess_role": "emperor"},
        {"wess_role": "Admin"},
        {"sub": "s" * 5_000},
        {"sub": "alice\r\nforged"},
        {"sub": ""},
    ],
    ids=lambda claims: ",".join(f"{k}={str(v)[:12]!r}x{len(str(v))}" for k, v in claims.items()),
)
async def test_jwt_claims_are_validated_401_never_500(jwt_key, claims):
    """A signed, unexpired token whose namespace is not a namespace name (too long, a
    line break, empty, not a string), whose role is no role, or whose sub is unbounded
    or unprintable is 401 on every kind of request, never a 500 nor an acceptance."""
    key, public = jwt_key
    now = int(time.time())
    payload = {
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "sub": "alice",
        "exp": now + 300,
        "iat": now,
        "wess_ns": "team-a",
        "wess_role": "developer",
        **claims,
    }
    token = jwt.encode(payload, key, algorithm="RS256")
    settings = test_settings(
        WESS_AUTH_JWT_ISSUER=JWT_ISSUER,
        WESS_AUTH_JWT_AUDIENCE=JWT_AUDIENCE,
        WESS_AUTH_JWT_ALGORITHMS="RS256",
        WESS_AUTH_JWT_PUBLIC_KEY_FILE=str(public),
    )
    async with open_client(settings, as_admin=False) as client:
        module_id = str(uuid.uuid4())
        for method, path, kwargs in (
            ("POST", "/v1/modules", {"content": wasm("sum"), "headers": WASM}),
            ("GET", "/v1/modules", {}),
            ("POST", f"/v1/modules/{module_id}/run", {"json": {"args": [1, 2]}}),
        ):
            headers = {**kwargs.pop("headers", {}), **bearer(token)}
            response = await client.request(method, path, headers=headers, **kwargs)
            assert_problem(response, 401, "unauthenticated")


# -- Real servers: forwarded headers and slow connections (issue 8, points 7 and 8) --------------

CLOSE_GUARD = 30.0
"""Seconds a test waits for the server to close a connection before failing: a bound
against hanging, not a measurement (the server's timeouts in these tests are 1 s)."""


@pytest.fixture
def real_server(tmp_path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `wess serve` processes with WESS_* settings; all are stopped at the end."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        name = f"s{len(started)}"
        server = ServerProcess(
            data_dir=tmp_path / name, log_path=tmp_path / f"{name}.log", env=env
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def connect(server: ServerProcess, source: str = "127.0.0.1") -> socket.socket:
    """A raw TCP connection to ``server`` from the loopback address ``source``."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", server.port))
    return sock


def raw_request(server: ServerProcess, method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def closed_by_server(sock: socket.socket, drip: bytes = b"") -> bool:
    """Whether the server closes ``sock``, sending it one byte of ``drip`` a second until
    then (a slowloris). True once a read returns b"" (the server's FIN; a reset, which a
    byte crossing the FIN can cause, counts too); False if the connection is still open
    after CLOSE_GUARD seconds, or if the server sent data."""
    deadline = time.monotonic() + CLOSE_GUARD
    pending = iter(drip[i : i + 1] for i in range(len(drip)))
    try:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 1.0)
            if readable:
                return sock.recv(65536) == b""
            byte = next(pending, b"")
            if byte:
                sock.sendall(byte)
    except (ConnectionResetError, BrokenPipeError):
        return True
    return False


def test_forwarded_headers_are_ignored_unless_the_peer_is_a_trusted_proxy(real_server):
    """A client on 127.0.0.1 rotating X-Forwarded-For still hits its per-address limit
    (429) and is audited as 127.0.0.1; with 127.0.0.1 configured as a trusted proxy,
    the header names the client (each address its own limit, and the audited address).

    The harness's readiness probe also counts against 127.0.0.1's limit of 10: after
    the two requests below at most 7 remain, so of 12 rotating requests the last 5 are
    refused whatever the probe used."""
    limits = {"WESS_RATELIMIT_PER_IP": "10/minute"}
    for proxies, audited in (("", "127.0.0.1"), ("127.0.0.1", "198.51.100.1")):
        trusted = {"WESS_SERVER_TRUSTED_PROXIES": proxies} if proxies else {}  # default: none
        server = real_server(**limits, **trusted)
        with server.client() as admin:
            forged = {"x-forwarded-for": "198.51.100.1", **bearer("wess_0123456789abcdef_x")}
            assert admin.get("/v1/modules", headers=forged).status_code == 401
            audit = admin.get("/v1/audit", headers={"x-forwarded-for": "198.51.100.2"})
            refused = [e for e in audit.json()["items"] if e["outcome"] == "unauthenticated"]
            assert [e["client_ip"] for e in refused] == [audited]
            statuses = [
                admin.get("/healthz", headers={"x-forwarded-for": f"198.51.100.{i}"}).status_code
                for i in range(3, 15)
            ]
        if proxies:
            assert statuses == [200] * 12
        else:
            assert set(statuses) <= {200, 429}
            assert statuses[7:] == [429] * 5, statuses


def test_slow_headers_and_stalled_bodies_are_closed(real_server):
    """With 1 s timeouts: a connection that sends nothing, one that sends its headers a
    byte a second, and one whose body stalls are each closed by the server; the stalled
    body's request ends in the app (its access-log line is written)."""
    server = real_server(WESS_SERVER_HEADER_TIMEOUT="1", WESS_SERVER_BODY_TIMEOUT="1")
    with connect(server) as idle:
        assert closed_by_server(idle)
    with connect(server) as slowloris:
        assert closed_by_server(slowloris, drip=raw_request(server, "GET", "/healthz"))

    path = f"/v1/modules/{uuid.uuid4()}/run"
    with connect(server) as stalled:
        head = raw_request(
            server,
            "POST",
            path,
            authorization=f"Bearer {server.token}",
            content_type="application/json",
            content_length="100",
        )
        stalled.sendall(head + b'{"args": [')
        assert closed_by_server(stalled)
    deadline = time.monotonic() + CLOSE_GUARD
    while f'"path":"{path}"' not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f'"path":"{path}"' in server.log()


def test_connections_past_the_per_address_cap_are_closed_and_others_served(real_server):
    """With max_connections_per_client = 3: three slow connections from 127.0.0.3 hang
    (their first request answered, the next one's headers unfinished); a fourth from
    127.0.0.3 is closed at once, while clients from 127.0.0.2 and 127.0.0.1 are served;
    once one of the three ends, 127.0.0.3 is served again."""
    server = real_server(
        WESS_SERVER_MAX_CONNECTIONS_PER_CLIENT="3", WESS_SERVER_HEADER_TIMEOUT="120"
    )
    held = []
    for _ in range(3):
        sock = connect(server, "127.0.0.3")
        sock.sendall(raw_request(server, "GET", "/healthz"))
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: ")  # and nothing more
        held.append(sock)
    try:
        with connect(server, "127.0.0.3") as extra:
            assert closed_by_server(extra)
        for source in ("127.0.0.2", "127.0.0.1"):
            transport = httpx.HTTPTransport(local_address=source)
            with httpx.Client(transport=transport, base_url=server.url) as other:
                assert other.get("/healthz").status_code == 200
        held.pop().close()
        deadline = time.monotonic() + CLOSE_GUARD
        served = False
        while not served and time.monotonic() < deadline:
            with connect(server, "127.0.0.3") as again:
                try:
                    again.sendall(raw_request(server, "GET", "/healthz"))
                    served = read_response(again).startswith(b"HTTP/1.1 200")
                except (AssertionError, ConnectionResetError, BrokenPipeError):
                    time.sleep(0.05)  # the server has not seen the close yet
        assert served
    finally:
        for sock in held:
            sock.close()


# -- API4: fair sharing between tenants, coarse guest clocks -----------------------------------


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
