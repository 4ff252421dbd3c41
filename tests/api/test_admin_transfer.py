"""/v1/admin/export, /v1/admin/import and /v1/admin/backups: streamed both ways, for
admins only, and each import audited once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson

from tests.fixtures import distinct_sum
from wess.testing import assert_problem, open_client, test_settings

WASM = {"content-type": "application/wasm"}
NDJSON = {"content-type": "application/x-ndjson"}


async def fill(client, count: int = 3) -> list[str]:
    ids = []
    for seed in range(count):
        response = await client.post("/v1/modules", content=distinct_sum(seed), headers=WASM)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def test_export_streams_a_dump_closed_by_its_manifest() -> None:
    """GET /v1/admin/export answers NDJSON: a header, every module, key and audit entry,
    then the manifest counting them; ?namespace= keeps one namespace."""
    async with open_client() as client:
        ids = await fill(client)
        response = await client.get("/v1/admin/export")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["cache-control"] == "no-store"
        lines = [orjson.loads(line) for line in response.content.splitlines()]
        assert lines[0]["type"] == "header"
        assert [line["record"]["id"] for line in lines if line["type"] == "module"] == sorted(ids)
        assert lines[-1]["type"] == "manifest"
        assert lines[-1]["counts"]["modules"] == 3
        other = await client.get("/v1/admin/export", params={"namespace": "nobody"})
        assert orjson.loads(other.content.splitlines()[-1])["counts"]["modules"] == 0
        bad = await client.get("/v1/admin/export", params={"since": "yesterday"})
        assert_problem(bad, 400, "invalid_request")


async def test_import_writes_as_it_reads_and_is_audited_once() -> None:
    """POST /v1/admin/import writes records while the body still arrives (a module is
    readable before the rest is sent), answers the report, and leaves one store.import
    entry naming the admin; a second time changes nothing and leaves none."""
    async with open_client() as source:
        ids = await fill(source, count=2)
        dump = (await source.get("/v1/admin/export")).content.splitlines(keepends=True)
    async with open_client() as client:
        first_module = next(line for line in dump if b'"type":"module"' in line)
        first_id = orjson.loads(first_module)["record"]["id"]

        async def body() -> AsyncIterator[bytes]:
            keys_start = next(i for i, line in enumerate(dump) if b'"type":"key"' in line)
            for line in dump[: keys_start + 1]:  # the modules are flushed at the first key
                yield line
            for _ in range(3000):  # a bound on waiting, not a timing: 30 s at most
                if (await client.get(f"/v1/modules/{first_id}")).status_code == 200:
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("nothing was imported while the body was arriving")
            for line in dump[keys_start + 1 :]:
                yield line

        response = await client.post("/v1/admin/import", content=body(), headers=NDJSON)
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["ok"]
        assert report["counts"]["modules"]["imported"] == len(ids)
        assert report["counts"]["keys"]["skipped"] == 1  # another server's secret
        log = (await client.get("/v1/audit", params={"action": "store.import"})).json()
        assert len(log["items"]) == 1
        assert log["items"][0]["actor"].startswith("api_key:")
        again = await client.post("/v1/admin/import", content=b"".join(dump), headers=NDJSON)
        assert again.json()["changed"] == 0
        log = (await client.get("/v1/audit", params={"action": "store.import"})).json()
        assert len(log["items"]) == 1


async def test_a_bad_dump_is_reported_and_audited() -> None:
    """A body that is no dump: ok false with the reason, and its refusal in the log."""
    async with open_client() as client:
        response = await client.post("/v1/admin/import", content=b"hello\n", headers=NDJSON)
        assert response.status_code == 200
        assert response.json()["ok"] is False
        assert "line 1" in response.json()["error"]
        log = (await client.get("/v1/audit", params={"action": "store.import"})).json()
        assert log["items"][0]["outcome"] == "invalid_request"
        refused = await client.post(
            "/v1/admin/import", content=b"x", headers={"content-type": "text/plain"}
        )
        assert_problem(refused, 415, "unsupported_media_type")
        mapped = await client.post("/v1/admin/import", params={"map": "a"}, content=b"")
        assert_problem(mapped, 400, "invalid_request")


async def test_only_admins_export_import_or_back_up() -> None:
    """A developer's key is refused every store-wide operation."""
    async with open_client() as admin:
        issued = await admin.post("/v1/keys", json={"namespace": "team-a", "role": "developer"})
        token = issued.json()["token"]
        headers = {"authorization": f"Bearer {token}"}
        for method, path in (
            ("GET", "/v1/admin/export"),
            ("POST", "/v1/admin/import"),
            ("POST", "/v1/admin/backups"),
            ("GET", "/v1/admin/backups"),
        ):
            response = await admin.request(method, path, headers=headers)
            assert_problem(response, 403, "permission_denied")


async def test_a_memory_store_has_no_backups() -> None:
    """Backups are of a store on disk: a memory store says so."""
    async with open_client(test_settings()) as client:
        response = await client.post("/v1/admin/backups")
        assert_problem(response, 400, "invalid_request")
        assert "nothing on disk" in response.json()["detail"]


async def test_a_backup_after_a_kek_rotation_reads_back(tmp_path) -> None:
    """A backup taken after rotating the key-encryption key opens the values sealed under
    the new key (the backups follow the server's current keyring)."""
    from wess.security.crypto import generate_kek

    kek = tmp_path / "kek"
    kek.write_text(generate_kek())
    kek.chmod(0o600)
    settings = test_settings(
        WESS_DATABASE_URL="",
        WESS_DB_PATH=str(tmp_path / "data"),
        WESS_SECURITY_ENCRYPTION_KEY_FILE=str(kek),
        WESS_BACKUP_DIR=str(tmp_path / "backups"),
    )
    async with open_client(settings) as client:
        await fill(client, count=2)
        rotated = await client.post("/v1/admin/rotate-kek")
        assert rotated.status_code == 200, rotated.text
        await fill(client, count=1)
        response = await client.post("/v1/admin/backups")
        assert response.status_code == 201, response.text
        assert response.json()["content"]["modules"] == 3
        listed = (await client.get("/v1/admin/backups")).json()["items"]
        assert [item["id"] for item in listed] == [response.json()["id"]]
