"""`wess verify` names what a damaged store cannot read; `wess salvage` copies the rest
into a new data directory, from which Wess starts and serves every intact module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import distinct_sum
from tests.support import ServerProcess, files_starting_with, flush_families

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}


def wess(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wess", *args],
        env={"PATH": "/usr/bin:/bin", "WESS_LOGGING_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_verify_names_the_damage_and_salvage_keeps_every_intact_module(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data_dir=data, log_path=tmp_path / "wess.log").start()
    created: list[str] = []
    with server.client() as client:
        for seed in range(40):
            response = client.post("/v1/modules", content=distinct_sum(seed), headers=WASM)
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])
        intact = client.get("/v1/admin/verify").json()
    assert server.stop() == 0
    assert intact["ok"], intact
    assert (intact["modules"]["checked"], intact["audit_chain"]) == (40, "intact")

    flush_families(data)
    (sst,) = files_starting_with(data, b"m:")
    raw = bytearray(sst.read_bytes())
    raw[64] ^= 0x01  # the first metadata block: the modules whose ids sort first
    sst.write_bytes(bytes(raw))

    checked = wess("verify", "--data-dir", str(data))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "stepped over 1 damaged range(s)" in checked.stdout
    assert "store damaged" in checked.stderr
    assert "Traceback" not in checked.stderr

    into = tmp_path / "salvaged"
    salvaged = wess("salvage", "--data-dir", str(data), "--into", str(into))
    assert salvaged.returncode == 0, salvaged.stderr
    copied = int(salvaged.stdout.split("copied ")[1].split(" modules")[0])
    assert 20 <= copied < 40  # the damaged block held a few records, no more

    rescued = ServerProcess(data_dir=into, log_path=tmp_path / "rescued.log").start()
    try:
        with rescued.client(server.token) as client:  # the same secret: the same keys
            listed = [
                m["id"] for m in client.get("/v1/modules", params={"limit": "100"}).json()["items"]
            ]
            assert len(listed) == copied
            assert set(listed) < set(created)
            for module_id in listed:
                run = client.post(f"/v1/modules/{module_id}/run", json={"args": [2, 3]})
                assert run.json()["results"] == [5], run.text
            verified = client.get("/v1/admin/verify").json()
    finally:
        assert rescued.stop() == 0
    assert verified["ok"], json.dumps(verified)
