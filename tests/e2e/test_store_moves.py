"""Moving between stores: `wess export` from the embedded RocksDB store, `wess import`
into PostgreSQL, and back, offline, keep ids, digests, revisions, keys and the audit
chain (docs/scaling.md, docs/operations.md)."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pytest

from tests.fixtures import distinct_sum
from tests.support import ServerProcess, audit_of, modules_of, postgres_schema, wess

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}


def holding_the_secret_of(source: Path, target: Path) -> Path:
    """A new data directory holding ``source``'s server secret, as the runbook says."""
    target.mkdir(mode=0o700)
    shutil.copy2(source / "server.secret", target / "server.secret")
    return target


def test_rocksdb_to_postgresql_and_back_keeps_everything(tmp_path: Path) -> None:
    source = ServerProcess(data_dir=tmp_path / "rocks", log_path=tmp_path / "rocks.log").start()
    with source.client() as client:
        minted = client.post("/v1/keys", json={"namespace": "team-b", "role": "developer"}).json()
        assert client.post("/v1/modules", content=distinct_sum(1), headers=WASM).is_success
        first = client.get("/v1/modules").json()["items"][0]["id"]
        assert client.put(f"/v1/modules/{first}", content=distinct_sum(9), headers=WASM).is_success
    with source.client(minted["token"]) as developer:
        for seed in (2, 3):
            created = developer.post("/v1/modules", content=distinct_sum(seed), headers=WASM)
            assert created.status_code == 201, created.text
    token, developer_token = source.token, minted["token"]
    modules, log = modules_of(source), audit_of(source)
    assert source.stop() == 0
    dump = tmp_path / "rocks.ndjson"
    wess("export", "--data-dir", str(source.data_dir), "--file", str(dump))

    with postgres_schema(f"m_{secrets.token_hex(6)}") as url:
        into_pg = holding_the_secret_of(source.data_dir, tmp_path / "pg")
        imported = wess(
            "import", str(dump), "--data-dir", str(into_pg), "-o", "json", env={"WESS_DB_URL": url}
        )
        assert json.loads(imported.stdout)["ok"], imported.stdout
        on_pg = ServerProcess(
            data_dir=into_pg,
            log_path=tmp_path / "pg.log",
            env={"WESS_DB_URL": url, "WESS_SERVER_WORKERS": "1"},
        ).start()
        try:
            assert modules_of(on_pg, token) == modules  # ids, revisions, bytes
            moved = audit_of(on_pg, token)
            assert moved[: len(log)] == log  # the same entries, chained alike
            assert [e["action"] for e in moved[len(log) :]] == ["store.import"]
            with on_pg.client(token) as client:
                assert client.get("/v1/audit/verify").json()["ok"]
            with on_pg.client(developer_token) as developer:  # the key's hash came along
                assert len(developer.get("/v1/modules").json()["items"]) == 2
        finally:
            assert on_pg.stop() == 0
        back_dump = tmp_path / "pg.ndjson"
        wess(
            "export",
            "--data-dir",
            str(into_pg),
            "--file",
            str(back_dump),
            env={"WESS_DB_URL": url},
        )

    back = holding_the_secret_of(source.data_dir, tmp_path / "rocks-again")
    wess("import", str(back_dump), "--data-dir", str(back))
    again = ServerProcess(data_dir=back, log_path=tmp_path / "again.log").start()
    try:
        assert modules_of(again, token) == modules
        returned = audit_of(again, token)
        assert returned[: len(moved)] == moved
        assert [e["action"] for e in returned[len(moved) :]] == ["store.import"]
        with again.client(token) as client:
            assert client.get("/v1/audit/verify").json()["ok"]
    finally:
        assert again.stop() == 0
