"""One damaged block costs the records in it, not the service.

A store written by a real server, one block of module metadata damaged on disk (a
flipped bit, as a failing disk leaves), then the server started again: it starts and is
ready, serves every intact module, answers the damaged ones with 500 integrity_error
(never executed, never a silent 404), and reports the damage in /readyz and a metric.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fixtures import distinct_sum
from tests.support import ServerProcess, files_starting_with, flush_families

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}


def damage_first_metadata_block(data: Path) -> None:
    """Flip one bit in the first data block of the ``modules`` family's table file (its
    first key is a metadata key, ``m:``): the records of the modules whose ids sort
    first are in it. Blocks are compressed, so a record's text is not searched for."""
    (sst,) = files_starting_with(data, b"m:")
    raw = bytearray(sst.read_bytes())
    raw[64] ^= 0x01
    sst.write_bytes(bytes(raw))


def test_a_damaged_block_costs_its_records_not_the_service(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data_dir=data, log_path=tmp_path / "wess.log").start()
    created: dict[str, str] = {}
    with server.client() as client:
        for seed in range(60):
            response = client.post("/v1/modules", content=distinct_sum(seed), headers=WASM)
            assert response.status_code == 201, response.text
            created[response.json()["id"]] = response.json()["digest"]
    assert server.stop() == 0
    flush_families(data)
    victim = sorted(created)[0]
    damage_first_metadata_block(data)

    again = ServerProcess(data_dir=data, log_path=tmp_path / "again.log").start()
    try:
        with again.client() as client:
            assert client.get("/readyz").status_code == 200
            listed = {
                m["id"] for m in client.get("/v1/modules", params={"limit": "1000"}).json()["items"]
            }
            damaged = set(created) - listed
            assert victim in damaged
            assert len(listed) >= 30  # the rest of the store is served
            for module_id in created:
                read = client.get(f"/v1/modules/{module_id}")
                run = client.post(f"/v1/modules/{module_id}/run", json={"args": [2, 3]})
                if module_id in damaged:
                    assert (read.status_code, read.json()["code"]) == (500, "integrity_error")
                    assert (run.status_code, run.json()["code"]) == (500, "integrity_error")
                else:
                    assert read.status_code == 200
                    assert run.json()["results"] == [5]
            report = client.get("/readyz").json()
            metrics = client.get("/metrics").text
    finally:
        assert again.stop() == 0
    assert report["status"] == "ready"
    assert report["storage_damage"]["skipped_ranges"] >= 1
    assert report["storage_damage"]["unreadable"] >= 1
    skipped = re.search(r'wess_storage_damage\{kind="skipped_ranges"\} (\S+)', metrics)
    assert skipped is not None
    assert float(skipped.group(1)) >= 1
