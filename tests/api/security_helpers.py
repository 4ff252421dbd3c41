"""Keys of several roles and namespaces, minted through the real API."""

from __future__ import annotations

import httpx

from tests.fixtures import wasm

WASM = {"content-type": "application/wasm"}


async def mint(admin: httpx.AsyncClient, namespace: str, role: str, **extra: object) -> str:
    response = await admin.post(
        "/v1/keys",
        json={"namespace": namespace, "role": role, "name": f"{role}@{namespace}", **extra},
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def upload_as(client: httpx.AsyncClient, token: str, name: str = "sum") -> str:
    response = await client.post(
        "/v1/modules",
        content=wasm(name),
        headers={**WASM, **bearer(token)},
        params={"function": "sum"} if name == "sum" else {},
    )
    assert response.status_code == 201, response.text
    module_id: str = response.json()["id"]
    return module_id
