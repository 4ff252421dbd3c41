"""/v1 module resources: upload, list, read, download, replace, delete."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from tests.fixtures import wasm
from wess.models import digest_of
from wess.testing import assert_problem, open_client, test_settings


@pytest.fixture
def client(any_store_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Every test of this module runs on every backend (memory, RocksDB, PostgreSQL)."""
    return any_store_client


WASM = {"content-type": "application/wasm"}


async def test_upload_raw_bytes_returns_the_resource(client):
    """POST application/wasm -> 201 with Location, ETag = digest and the export catalogue."""
    response = await client.post(
        "/v1/modules",
        content=wasm("sum"),
        headers=WASM,
        params={"name": "adder", "function": "sum"},
    )
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"[0-9a-f-]{36}", body["id"])
    assert body["name"] == "adder"
    assert body["digest"] == digest_of(wasm("sum"))
    assert body["size"] == len(wasm("sum"))
    assert body["revision"] == 1
    assert body["default_function"] == "sum"
    assert body["functions"] == [{"name": "sum", "params": ["i32", "i32"], "results": ["i32"]}]
    assert response.headers["location"] == f"/v1/modules/{body['id']}"
    assert response.headers["etag"] == f'"{body["digest"]}"'
    assert "content" not in body
    assert "wasm" not in body


async def test_upload_json_form(client):
    """POST application/json with base64 content -> 201; the name defaults to the id."""
    content = base64.b64encode(wasm("numbers")).decode()
    response = await client.post("/v1/modules", json={"content": content})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == body["id"]
    assert {f["name"] for f in body["functions"]} >= {"id_i64", "swap", "nothing"}
    swap = next(f for f in body["functions"] if f["name"] == "swap")
    assert swap == {"name": "swap", "params": ["i32", "i64"], "results": ["i64", "i32"]}


async def test_declared_signature_that_disagrees_is_rejected(client):
    """/v1 refuses declared metadata that disagrees with the export: 422 naming both."""
    content = base64.b64encode(wasm("sum")).decode()
    response = await client.post(
        "/v1/modules",
        json={
            "content": content,
            "function": "sum",
            "signature": {"params": ["i64", "i64"], "results": ["i64"]},
        },
    )
    body = assert_problem(response, 422, "signature_mismatch")
    assert "sum(i64, i64) -> (i64)" in body["detail"]
    assert "sum(i32, i32) -> (i32)" in body["detail"]
    query = await client.post(
        "/v1/modules",
        content=wasm("sum"),
        headers=WASM,
        params={"function": "sum", "params": "f32,f32"},
    )
    assert_problem(query, 422, "signature_mismatch")


async def test_declared_default_function_must_exist(client):
    """Naming a default function the module does not export is a 422 listing the exports."""
    response = await client.post(
        "/v1/modules", content=wasm("sum"), headers=WASM, params={"function": "product"}
    )
    body = assert_problem(response, 422, "signature_mismatch")
    assert "product" in body["detail"]
    assert "sum" in body["detail"]


async def test_invalid_wasm_is_422(client):
    """Bytes that are not a valid module are refused with wasmtime's reason."""
    response = await client.post("/v1/modules", content=b"\0asm\x01\0\0\0garbage", headers=WASM)
    assert_problem(response, 422, "invalid_wasm")
    not_wasm = await client.post("/v1/modules", content=b"hello world", headers=WASM)
    detail = assert_problem(not_wasm, 422, "invalid_wasm")["detail"]
    assert detail.endswith("actual=[0x68, 0x65, 0x6c, 0x6c] (at offset 0x0)")


async def test_unknown_import_is_422_naming_it(client):
    """A module importing anything Wess does not provide is refused at upload."""
    response = await client.post("/v1/modules", content=wasm("bad_import"), headers=WASM)
    body = assert_problem(response, 422, "unknown_import")
    assert "host" in body["detail"]
    assert "launch_missiles" in body["detail"]


async def test_modules_importing_what_wess_provides_are_accepted(upload):
    """WASI preview 1 and env.randomi32 are the imports Wess provides."""
    await upload("hello_wasi")
    await upload("random")


async def test_too_large_is_413():
    """A module over limits.max_module_size is refused, in both forms, without storing it."""
    async with open_client(test_settings(WESS_LIMITS_MAX_MODULE_SIZE="1024")) as client:
        big = wasm("sum") + b"\0" * 2000
        raw = await client.post("/v1/modules", content=big, headers=WASM)
        assert_problem(raw, 413, "payload_too_large")
        as_json = await client.post("/v1/modules", json={"content": base64.b64encode(big).decode()})
        assert_problem(as_json, 413, "payload_too_large")
        assert (await client.get("/v1/modules")).json()["items"] == []


async def test_other_content_types_are_415(client):
    """Only application/wasm and application/json are accepted."""
    response = await client.post(
        "/v1/modules", content=b"x", headers={"content-type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported_media_type")


async def test_malformed_json_and_bad_fields_are_400(client):
    """Broken JSON is malformed_json; a wrong field is invalid_request naming it."""
    broken = await client.post(
        "/v1/modules", content=b'{"content": ', headers={"content-type": "application/json"}
    )
    assert_problem(broken, 400, "malformed_json")
    bad_base64 = await client.post("/v1/modules", json={"content": "***"})
    assert "content" in assert_problem(bad_base64, 400, "invalid_request")["detail"]
    unknown = await client.post("/v1/modules", json={"content": "", "owner": "me"})
    assert "owner" in assert_problem(unknown, 400, "invalid_request")["detail"]


async def test_list_is_paginated_in_a_stable_order(client, upload):
    """Cursor pagination visits every module once, in the same order each time."""
    ids = {(await upload("sum"))["id"] for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/modules", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 5
    again = (await client.get("/v1/modules", params={"limit": "5"})).json()
    assert [item["id"] for item in again["items"]] == seen


async def test_list_rejects_bad_limits_and_cursors(client):
    """A page size past the cap, a non-number or a forged cursor is a 400."""
    assert_problem(
        await client.get("/v1/modules", params={"limit": "100000"}), 400, "invalid_request"
    )
    assert_problem(await client.get("/v1/modules", params={"limit": "ten"}), 400, "invalid_request")
    assert_problem(await client.get("/v1/modules", params={"cursor": "!!"}), 400, "invalid_request")


async def test_read_and_download(client, upload):
    """GET returns the resource and ETag; /wasm returns the exact bytes; 304 when unchanged."""
    module = await upload("sum")
    response = await client.get(f"/v1/modules/{module['id']}")
    assert response.status_code == 200
    assert response.json() == module
    download = await client.get(f"/v1/modules/{module['id']}/wasm")
    assert download.status_code == 200
    assert download.content == wasm("sum")
    assert download.headers["content-type"] == "application/wasm"
    assert download.headers["etag"] == f'"{module["digest"]}"'
    cached = await client.get(
        f"/v1/modules/{module['id']}/wasm", headers={"if-none-match": download.headers["etag"]}
    )
    assert cached.status_code == 304


async def test_unknown_and_invalid_ids(client):
    """An unknown UUID, or a name no module has, is 404 module_not_found; a UUID in
    another spelling than the canonical one is 400 invalid_module_id."""
    missing = "00000000-0000-4000-8000-000000000000"
    assert_problem(await client.get(f"/v1/modules/{missing}"), 404, "module_not_found")
    assert_problem(await client.get("/v1/modules/not-a-uuid"), 404, "module_not_found")
    upper = "ABCDEF00-0000-4000-8000-000000000000"
    assert_problem(await client.get(f"/v1/modules/{upper}"), 400, "invalid_module_id")
    assert_problem(await client.delete(f"/v1/modules/{missing}"), 404, "module_not_found")


async def test_replace_bumps_the_revision_and_honours_if_match(client, upload):
    """PUT replaces the content (revision + 1); a stale If-Match is 412 and changes nothing."""
    module = await upload("sum")
    url = f"/v1/modules/{module['id']}"
    stale = await client.put(
        url, content=wasm("counter"), headers={**WASM, "if-match": '"sha256:0000"'}
    )
    assert_problem(stale, 412, "precondition_failed")
    assert (await client.get(url)).json()["revision"] == 1
    replaced = await client.put(
        url, content=wasm("counter"), headers={**WASM, "if-match": f'"{module["digest"]}"'}
    )
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["revision"] == 2
    assert body["digest"] == digest_of(wasm("counter"))
    assert body["created_at"] == module["created_at"]
    assert replaced.headers["etag"] == f'"{body["digest"]}"'
    run = await client.post(f"{url}/run", json={"function": "bump"})
    assert run.json()["results"] == [1]


async def test_replace_keeps_what_the_update_does_not_change(client):
    """A PUT with only new bytes keeps the name and the default function: a caller that
    runs the default function still reaches it."""
    created = await client.post(
        "/v1/modules",
        content=wasm("sum"),
        headers=WASM,
        params={"name": "adder", "function": "sum"},
    )
    module = created.json()
    url = f"/v1/modules/{module['id']}"
    replaced = await client.put(url, content=wasm("sum"), headers=WASM)
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert (body["name"], body["default_function"], body["revision"]) == ("adder", "sum", 2)
    run = await client.post(f"{url}/run", json={"args": [1, 2]})
    assert run.status_code == 200, run.text
    assert run.json()["results"] == [3]
    renamed = await client.put(
        url, content=wasm("counter"), headers=WASM, params={"name": "tally", "function": "bump"}
    )
    assert (renamed.json()["name"], renamed.json()["default_function"]) == ("tally", "bump")


async def test_replace_without_the_kept_default_function_is_422(client, upload):
    """New bytes that no longer export the kept default function, or export it with
    another signature than declared, are refused with a problem that says so; the module
    is unchanged."""
    module = await upload("sum", function="sum", params="i32,i32", results="i32")
    url = f"/v1/modules/{module['id']}"
    missing = assert_problem(
        await client.put(url, content=wasm("counter"), headers=WASM), 422, "signature_mismatch"
    )
    assert "'sum' stays the default" in missing["detail"]
    assert "bump" in missing["detail"]
    changed = assert_problem(
        await client.put(url, content=wasm("sum"), headers=WASM, params={"params": "i64,i64"}),
        422,
        "signature_mismatch",
    )
    assert "keeps 'sum' as the default function" in changed["detail"]
    assert (await client.get(url)).json()["revision"] == 1


async def test_replace_unknown_is_404(client):
    """PUT on an id that does not exist is a 404, not an upsert."""
    response = await client.put(
        "/v1/modules/00000000-0000-4000-8000-000000000000", content=wasm("sum"), headers=WASM
    )
    assert_problem(response, 404, "module_not_found")


async def test_delete(client, upload):
    """DELETE answers 204; the module is gone for reads and runs."""
    module = await upload("sum")
    url = f"/v1/modules/{module['id']}"
    stale = await client.delete(url, headers={"if-match": '"sha256:beef"'})
    assert_problem(stale, 412, "precondition_failed")
    assert (await client.delete(url)).status_code == 204
    assert_problem(await client.get(url), 404, "module_not_found")
    assert_problem(await client.post(f"{url}/run", json={"args": [1, 2]}), 404, "module_not_found")
