"""Upgrading a data directory written by the previous Wess, as an operator would:
start (refused, naming the command), `wess migrate --dry-run`, `wess migrate`, start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import wasm
from tests.storage.builders import format1_store, make_entries, make_record, unkeyed
from tests.support import ServerProcess

pytestmark = pytest.mark.e2e


def wess(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wess", *args],
        env={"PATH": "/usr/bin:/bin", "WESS_LOGGING_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_previous_format_store_is_migrated_then_served(tmp_path: Path) -> None:
    """Every module of the old store runs after the upgrade, and its audit log (plain
    hashes then) verifies under the new server's key."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    record = make_record(wasm=wasm("sum"))
    format1_store(data, records=[record], entries=unkeyed(make_entries(3)))

    refused = wess("serve", "--port", "0", "--data-dir", str(data))
    assert refused.returncode == 1
    assert f"wess migrate --data-dir {data}" in refused.stderr
    assert "Traceback" not in refused.stderr

    planned = wess("migrate", "--data-dir", str(data), "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "wess-rocks/1 -> wess-rocks/2" in planned.stdout
    assert "dry run: nothing changed" in planned.stdout

    done = wess("migrate", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    # m:, w:, n:, three audit entries (step 2); the module given its first revision (step 3)
    assert "migrated: 7 records moved" in done.stdout
    assert "nothing to migrate" in wess("migrate", "--data-dir", str(data)).stdout

    server = ServerProcess(data_dir=data, log_path=tmp_path / "wess.log").start()
    try:
        with server.client() as client:
            run = client.post(
                f"/v1/modules/{record.id}/run", json={"function": "sum", "args": [2, 3]}
            )
            assert run.json()["results"] == [5], run.text
            report = client.get("/v1/audit/verify").json()
    finally:
        assert server.stop() == 0
    assert report["ok"], report
    assert report["checked"] == 4  # three re-chained, one for the admin key minted now
    assert "audit log re-chained" in server.log()
