"""Exactly one audit entry per state-changing request, whatever became of it.

A change is recorded by the Writer in the change's own batch; every refusal (by the
guard, before the Writer, or by the Writer, which then commits nothing) by the request
path. Each case below counts the entries its one request added: exactly one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.api.security_helpers import WASM, bearer, mint
from tests.fixtures import wasm
from wess.testing import open_client, test_settings

Request = Callable[[], Awaitable[httpx.Response]]


async def log_of(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit", params={"limit": "1000"})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def one_entry(client: httpx.AsyncClient, request: Request, status: int) -> dict[str, Any]:
    """Send ``request``, check its status, and answer the one entry it added."""
    before = len(await log_of(client))
    response = await request()
    assert response.status_code == status, response.text
    added = (await log_of(client))[before:]
    assert len(added) == 1, added
    return added[0]


async def test_every_kind_of_state_changing_request_leaves_exactly_one_entry() -> None:
    """Creates, updates, deletes (v1 and original API), keys and the KEK rotation, each
    as a success and as refusals from every layer: one entry apiece, with its outcome."""
    settings = test_settings(WESS_QUOTAS_MAX_MODULES="3", WESS_LIMITS_MAX_MODULE_SIZE="65536")
    async with open_client(settings) as client:
        viewer = await mint(client, "default", "viewer")

        def upload(body: bytes, **headers: str) -> Request:
            return lambda: client.post("/v1/modules", content=body, headers={**WASM, **headers})

        created = await one_entry(client, upload(wasm("sum")), 201)
        module_id = created["target"]
        legacy = {
            "wasm": list(wasm("sum")),
            "metadata": {"functionName": "sum", "returnType": ["I32"], "args": ["I32", "I32"]},
        }
        path = f"/v1/modules/{module_id}"
        stale = {"if-match": '"sha256:' + "0" * 64 + '"'}
        cases: list[tuple[Request, int, str, str]] = [
            (upload(b"not wasm"), 422, "module.create", "invalid_wasm"),
            (upload(b"\0asm" + bytes(70_000)), 413, "module.create", "payload_too_large"),
            (upload(wasm("sum"), **bearer(viewer)), 403, "module.create", "permission_denied"),
            (
                lambda: client.post(
                    "/v1/modules",
                    content=wasm("sum"),
                    headers={**WASM, "authorization": "Bearer wess_0000000000000000_x"},
                ),
                401,
                "module.create",
                "unauthenticated",
            ),
            (
                lambda: client.put(path, content=wasm("sum"), headers={**WASM, **stale}),
                412,
                "module.update",
                "precondition_failed",
            ),
            (
                lambda: client.put(path, content=wasm("sum"), headers=WASM),
                200,
                "module.update",
                "ok",
            ),
            (
                lambda: client.delete(path, headers=stale),
                412,
                "module.delete",
                "precondition_failed",
            ),
            (lambda: client.post("/", json=legacy), 202, "module.create", "ok"),
            (lambda: client.post("/", json=legacy), 202, "module.create", "ok"),
            (lambda: client.post("/", json=legacy), 507, "module.create", "quota_exceeded"),
            (
                lambda: client.put("/00000000-0000-4000-8000-000000000000", json=legacy),
                404,
                "module.update",
                "module_not_found",
            ),
            (lambda: client.delete(path), 204, "module.delete", "ok"),
            (lambda: client.delete(path), 404, "module.delete", "module_not_found"),
            (
                lambda: client.delete("/v1/keys/0123456789abcdef"),
                404,
                "key.revoke",
                "key_not_found",
            ),
            (lambda: client.post("/v1/admin/rotate-kek"), 400, "kek.rotate", "invalid_request"),
        ]
        for request, status, action, outcome in cases:
            entry = await one_entry(client, request, status)
            assert (entry["action"], entry["outcome"]) == (action, outcome), entry
