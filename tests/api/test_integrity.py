"""Damage behind Wess's back: a module whose bytes no longer match its digest never runs."""

from __future__ import annotations

from uuid import UUID

from tests.fixtures import wasm
from tests.support import raw_family
from wess.storage.rocks.layout import WASM as WASM_PREFIX
from wess.testing import assert_problem, open_client, test_settings


def tamper(path, module_id: str, data: bytes) -> None:
    """Overwrite a module's stored bytes with the raw RocksDB API, as a disk fault might."""
    with raw_family(path, "modules") as db:
        key = WASM_PREFIX + str(UUID(module_id)).encode()
        assert db.get(key) is not None, "the key layout changed: update this test"
        db.put(key, data)


async def test_tampered_module_is_500_integrity_error_and_never_runs(tmp_path):
    """Reads verify the digest: 500 integrity_error, counted, and the guest is not run."""
    settings = test_settings(WESS_DATABASE_URL="", WESS_DB_PATH=str(tmp_path / "db"))
    async with open_client(settings) as client:
        created = await client.post(
            "/v1/modules", content=wasm("sum"), headers={"content-type": "application/wasm"}
        )
        module_id = created.json()["id"]
    # Same length, different bytes, still a valid module: only the digest can tell.
    forged = wasm("sum").replace(b"\x6a", b"\x6b")  # i32.add -> i32.sub
    assert forged != wasm("sum")
    tamper(tmp_path / "db", module_id, forged)

    async with open_client(settings) as client:
        run = await client.post(f"/v1/modules/{module_id}/run", json={"args": [5, 3]})
        body = assert_problem(run, 500, "integrity_error")
        assert module_id in body["detail"]
        assert_problem(await client.get(f"/v1/modules/{module_id}/wasm"), 500, "integrity_error")
        legacy = await client.post(f"/{module_id}", content=b"[5, 3]")
        assert legacy.status_code == 500
        metrics = (await client.get("/metrics")).text
        assert "wess_integrity_errors_total 3.0" in metrics
        invocations = [
            line
            for line in metrics.splitlines()
            if line.startswith("wess_execution_duration_seconds_count{")
        ]
        assert invocations == []
