"""Backups of a real server taken while it is written, restored into a new data directory
that a server starts from, holding every write acknowledged before the backup began."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures import distinct_sum
from tests.support import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
WASM = {"content-type": "application/wasm"}
WRITERS = 8


def wess(*args: str, env: dict[str, str], ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "wess", *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


class Load:
    """``WRITERS`` threads uploading distinct modules as fast as the server takes them;
    ``acknowledged`` maps each module the server answered 201 for to its digest."""

    def __init__(self, server: ServerProcess) -> None:
        self._server = server
        self.acknowledged: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.warm = threading.Event()
        self._threads = [
            threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(WRITERS)
        ]

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        self.seconds = time.monotonic() - self.started

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self.acknowledged)

    def _write(self, worker: int) -> None:
        seed = worker * 1_000_000
        with self._server.client() as client:
            while not self._stop.is_set():
                seed += 1
                try:
                    response = client.post("/v1/modules", content=distinct_sum(seed), headers=WASM)
                except httpx.HTTPError:
                    continue
                if response.status_code == 201:
                    document = response.json()
                    with self._lock:
                        self.acknowledged[document["id"]] = document["digest"]
                        if len(self.acknowledged) >= 100:
                            self.warm.set()


def test_a_backup_under_load_restores_every_acknowledged_write(tmp_path: Path) -> None:
    """With eight writers uploading, `wess backup create` checkpoints the store; writes
    go on meanwhile. The backup verifies; restored into a new data directory (with the
    configured anchor, which by then names a newer head), a server starts from it and
    holds every module acknowledged before the backup began, with its digest; its audit
    log verifies and ends with the restore."""
    anchor = tmp_path / "anchors" / "audit.anchor"
    settings = {
        "WESS_AUDIT_ANCHOR_FILE": str(anchor),
        "WESS_BACKUP_DIR": str(tmp_path / "backups"),
    }
    server = ServerProcess(data_dir=tmp_path / "data", log_path=tmp_path / "a.log", env=settings)
    server.start()
    client_env = {"WESS_URL": server.url, "WESS_API_KEY": server.token, **settings}
    with Load(server) as load:
        assert load.warm.wait(120)
        before = load.snapshot()
        created = wess("backup", "create", "-o", "json", env=client_env)
        during = len(load.snapshot()) - len(before)
    total = len(load.acknowledged)
    print(
        f"\n{total} writes acknowledged in {load.seconds:.1f} s by {WRITERS} writers "
        f"({total / load.seconds:.0f}/s); {during} while the backup was taken"
    )
    manifest = json.loads(created.stdout)
    assert "backing up: done, 1 backup," in created.stderr
    assert manifest["content"]["modules"] >= len(before)
    assert manifest["content"]["audit_chain"] == "intact"
    assert server.stop() == 0

    listed = json.loads(wess("backup", "list", "-o", "json", env=settings).stdout)
    assert [item["id"] for item in listed] == [manifest["id"]]
    verified = wess("backup", "verify", manifest["id"][:12], env=settings)
    assert f"backup {manifest['id']} intact" in verified.stdout

    restored = tmp_path / "restored"
    done = wess("backup", "restore", "latest", "--into", str(restored), env=settings)
    assert "the anchor moved back from entry" in done.stdout
    assert "restoring: done" in done.stderr
    copy = ServerProcess(data_dir=restored, log_path=tmp_path / "b.log", env=settings).start()
    try:
        with copy.client(server.token) as client:
            for module_id, digest in before.items():
                info = client.get(f"/v1/modules/{module_id}")
                assert info.status_code == 200, module_id
                assert info.json()["digest"] == digest
                body = client.get(f"/v1/modules/{module_id}/wasm").content
                assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
            log = client.get("/v1/audit/verify").json()
            last = client.get("/v1/audit", params={"action": "backup.restore"}).json()
        assert log["ok"], log
        assert [entry["target"].split()[0] for entry in last["items"]] == [manifest["id"]]
    finally:
        assert copy.stop() == 0


def test_the_server_takes_scheduled_backups_and_keeps_the_newest(tmp_path: Path) -> None:
    """backup.interval makes the server back itself up; backup.retention bounds how
    many it keeps; the metrics say when the last one succeeded, how long and how big."""
    settings = {
        "WESS_BACKUP_DIR": str(tmp_path / "backups"),
        "WESS_BACKUP_INTERVAL": "0.2",
        "WESS_BACKUP_RETENTION": "2",
    }
    server = ServerProcess(data_dir=tmp_path / "data", log_path=tmp_path / "a.log", env=settings)
    server.start()
    try:
        with server.client() as client:
            client.post("/v1/modules", content=distinct_sum(1), headers=WASM)
            deadline = time.monotonic() + 60
            taken = 0.0
            while time.monotonic() < deadline:  # waiting for an event, not timing it
                metrics = client.get("/metrics").text
                taken = _sample(metrics, "wess_backups_total", 'outcome="ok"')
                if taken >= 4:
                    break
                time.sleep(0.1)
            listed = client.get("/v1/admin/backups").json()["items"]
        assert taken >= 4
        assert _sample(metrics, "wess_backup_last_success_timestamp_seconds") > 0
        assert _sample(metrics, "wess_backup_size_bytes") > 0
        assert 1 <= len(listed) <= 3  # pruned to 2 after each; one more may have finished
    finally:
        assert server.stop() == 0


def _sample(metrics: str, name: str, labels: str = "") -> float:
    for line in metrics.splitlines():
        if line.startswith(name) and labels in line and not line.startswith("#"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
