"""The audit log attacked as the issue did it: with the server stopped, entries changed,
removed, reordered or cut off with rocksdict, then the server started again.

The attacker holds the store but not the server secret (kept outside the data directory
here, with ``security.secret_file``), so a changed entry cannot carry the chain's MAC.
Each attack is detected: by the start-up check against the anchor, or by
``wess audit verify`` (offline on the data directory, or online), which names the
break and prints the head it verified.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import wasm
from tests.support import ServerProcess, raw_family

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}


def seq_key(seq: int) -> bytes:
    return seq.to_bytes(8, "big")


def entries_of(db: Any) -> list[dict]:
    return [json.loads(value) for value in db.values()]


def rechain_plainly(entries: list[dict], start: int) -> None:
    """Recompute ``prev_hash``/``hash`` from ``start`` on as someone without the key can:
    plain SHA-256 over the canonical fields, the chain's old format."""
    for index in range(start, len(entries)):
        entry = entries[index]
        entry["prev_hash"] = entries[index - 1]["hash"] if index else "0" * 64
        fields = {k: v for k, v in entry.items() if k not in ("hash", "schema_version")}
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        entry["hash"] = hashlib.sha256(text.encode()).hexdigest()


def tamper(data: Path, change: Callable[[Any, list[dict]], None]) -> None:
    with raw_family(data, "audit") as db:
        change(db, entries_of(db))


def put(db: Any, entry: dict, seq: int | None = None) -> None:
    db[seq_key(seq or entry["seq"])] = json.dumps(entry).encode()


def verify_offline(data: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wess", "audit", "verify", "--data-dir", str(data)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """A data directory whose log holds 5 entries (the admin key, 4 creates), written by a
    server that then stopped cleanly (anchoring its head); the secret lives elsewhere."""
    env = {"WESS_SECURITY_SECRET_FILE": str(tmp_path / "secrets" / "server.secret")}
    server = ServerProcess(data_dir=tmp_path / "data", log_path=tmp_path / "wess.log", env=env)
    server.start()
    with server.client() as client:
        for _ in range(4):
            assert client.post("/v1/modules", content=wasm("sum"), headers=WASM).status_code == 201
    assert server.stop() == 0
    return tmp_path / "data", env, tmp_path / "wess.log"


def start_refused(data: Path, env: dict[str, str], log: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "wess", "serve", "--port", "0", "--data-dir", str(data)],
        env={"PATH": "/usr/bin:/bin", "WESS_LOGGING_FORMAT": "json", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_an_untouched_log_verifies_offline_and_names_its_head(written) -> None:
    """The control: the log as the server left it verifies, head included."""
    data, env, _ = written
    result = verify_offline(data, env)
    assert result.returncode == 0, result.stderr
    assert "audit log intact: 5 entries; head: entry 5, hash " in result.stdout


def test_a_rewritten_actor_re_chained_after_it_is_detected(written) -> None:
    """The issue's attack: entry 3's actor changed, every later hash recomputed. The
    server refuses to start (the anchored head no longer matches) and the offline check
    names entry 3."""
    data, env, log = written

    def forge(db: Any, entries: list[dict]) -> None:
        entries[2]["actor"] = "api_key:someone-else"
        entries[2]["chain"] = "sha256"  # a MAC cannot be recomputed without the key
        rechain_plainly(entries, 2)
        for entry in entries[2:]:
            put(db, entry)

    tamper(data, forge)
    stderr = start_refused(data, env, log)
    assert "names entry 5" in stderr
    assert "removed or rewritten" in stderr
    result = verify_offline(data, env)
    assert result.returncode == 1
    assert "audit log broken at entry 3 (unkeyed)" in result.stderr


def test_a_cut_off_tail_is_detected(written) -> None:
    """The last two entries deleted: start-up refuses (the log ends before its anchor)
    and the offline check reports the truncation."""
    data, env, log = written

    def cut(db: Any, entries: list[dict]) -> None:
        del db[seq_key(5)]
        del db[seq_key(4)]

    tamper(data, cut)
    stderr = start_refused(data, env, log)
    assert "ends at entry 3" in stderr
    result = verify_offline(data, env)
    assert result.returncode == 1
    assert "broken at entry 4 (truncated)" in result.stderr
    assert "head: entry 3" in result.stderr


def test_a_deleted_and_a_swapped_entry_are_detected_by_a_running_server(written) -> None:
    """A middle entry removed (the head kept, so the server starts): GET /v1/audit/verify
    reports the gap; swapping two entries' contents is reported at the first."""
    data, env, _ = written
    tamper(data, lambda db, entries: db.__delitem__(seq_key(2)))
    server = ServerProcess(data_dir=data, log_path=data.parent / "again.log", env=env).start()
    try:
        with server.client() as client:
            report = client.get("/v1/audit/verify").json()
    finally:
        assert server.stop() == 0
    assert (report["ok"], report["broken_at"], report["reason"]) == (False, 2, "gap")

    def swap(db: Any, entries: list[dict]) -> None:
        third, fourth = entries[1], entries[2]  # seq 3 and 4 (seq 2 is gone)
        put(db, fourth, 3)
        put(db, third, 4)

    tamper(data, swap)
    result = verify_offline(data, env)
    assert result.returncode == 1
    assert "broken at entry 2 (gap)" in result.stderr


def test_the_online_check_agrees_with_the_offline_one(written) -> None:
    """GET /v1/audit/verify answers the same head as the offline check prints."""
    data, env, _ = written
    offline = verify_offline(data, env).stdout
    server = ServerProcess(data_dir=data, log_path=data.parent / "again.log", env=env).start()
    try:
        with server.client() as client:
            report = client.get("/v1/audit/verify").json()
            assert client.post("/v1/modules", content=b"x", headers=WASM).status_code == 422
            after = client.get("/v1/audit/verify").json()
    finally:
        assert server.stop() == 0
    assert report["ok"]
    assert f"hash {report['head']['hash']}" in offline
    assert (after["ok"], after["head"]["seq"]) == (True, 6)
