"""`wess export` and `wess import` between real servers and data directories: byte for
byte, with the same ids and an audit chain that still verifies; twice changes nothing;
another server secret, namespace maps and damaged dumps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.fixtures import distinct_sum
from tests.support import ServerProcess, audit_of, modules_of, wess

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}


def fill(server: ServerProcess, count: int = 5) -> None:
    with server.client() as client:
        for seed in range(count):
            response = client.post("/v1/modules", content=distinct_sum(seed), headers=WASM)
            assert response.status_code == 201, response.text
        first = client.get("/v1/modules").json()["items"][0]["id"]
        updated = client.put(f"/v1/modules/{first}", content=distinct_sum(99), headers=WASM)
        assert updated.status_code == 200


def test_round_trip_into_a_new_data_directory(tmp_path: Path) -> None:
    """export online -> import offline into a new data directory holding the same secret
    -> a server started there holds byte-identical modules with the same ids and
    revisions, the same audit entries and keys (the old admin token works), and its log
    verifies. Importing again changes nothing."""
    source = ServerProcess(data_dir=tmp_path / "a", log_path=tmp_path / "a.log").start()
    fill(source)
    dump = tmp_path / "dump.ndjson"
    exported = wess("export", "--file", str(dump), server=source)
    assert "exporting ..." in exported.stderr
    assert "exporting: done" in exported.stderr
    expected, log = modules_of(source), audit_of(source)
    token = source.token
    assert source.stop() == 0

    target = tmp_path / "b"
    target.mkdir(mode=0o700)
    shutil.copy2(tmp_path / "a" / "server.secret", target / "server.secret")
    first = wess("import", str(dump), "--data-dir", str(target), "-o", "json")
    report = json.loads(first.stdout)
    assert report["ok"], report
    assert report["counts"]["modules"]["imported"] == 5
    assert "checking: done" in first.stderr
    again = json.loads(wess("import", str(dump), "--data-dir", str(target), "-o", "json").stdout)
    assert again["changed"] == 0
    assert again["counts"]["modules"]["present"] == 5

    copy = ServerProcess(data_dir=target, log_path=tmp_path / "b.log").start()
    try:
        assert modules_of(copy, token) == expected
        copied = audit_of(copy, token)
        assert copied[: len(log)] == log
        assert [entry["action"] for entry in copied[len(log) :]] == ["store.import"]
        verified = wess("audit", "verify", "--key", token, "--url", copy.url)
        assert "audit log intact" in verified.stdout
    finally:
        assert copy.stop() == 0


def test_another_server_takes_modules_and_rechains_the_log(tmp_path: Path) -> None:
    """Into a running server with its own secret: modules go in (mapped to another
    namespace), key records are skipped with the reason, audit entries are skipped until
    --rechain-audit appends them after a boundary; its log still verifies."""
    source = ServerProcess(data_dir=tmp_path / "a", log_path=tmp_path / "a.log").start()
    fill(source, count=3)
    dump = tmp_path / "dump.ndjson"
    wess("export", "--file", str(dump), server=source)
    assert source.stop() == 0
    other = ServerProcess(data_dir=tmp_path / "b", log_path=tmp_path / "b.log").start()
    try:
        plain = wess("import", str(dump), "--map-namespace", "default=moved", server=other)
        assert "key " in plain.stdout
        assert "cannot verify here" in plain.stdout
        assert "--rechain-audit" in plain.stdout
        with other.client() as client:
            moved = client.get("/v1/modules").json()["items"]
        assert sorted({item["namespace"] for item in moved}) == ["moved"]
        report = json.loads(
            wess(
                "import",
                str(dump),
                "--rechain-audit",
                "--map-namespace",
                "default=moved",
                "-o",
                "json",
                server=other,
            ).stdout
        )
        assert report["counts"]["audit"]["imported"] == 5
        actions = [entry["action"] for entry in audit_of(other)]
        assert actions[-2:] == ["audit.import", "store.import"]
        assert "audit log intact" in wess("audit", "verify", server=other).stdout
    finally:
        assert other.stop() == 0


def test_a_damaged_dump_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """A dump with one byte changed is refused whole, naming why; nothing is imported."""
    source = ServerProcess(data_dir=tmp_path / "a", log_path=tmp_path / "a.log").start()
    try:
        fill(source, count=2)
        dump = tmp_path / "dump.ndjson"
        wess("export", "--file", str(dump), server=source)
        lines = dump.read_bytes().splitlines(keepends=True)
        lines[1] = lines[1].replace(b'"name":"', b'"name":"X', 1)
        dump.write_bytes(b"".join(lines))
        refused = wess("import", str(dump), server=source, ok=False)
        assert refused.returncode == 1
        assert "is not a whole dump, nothing was imported" in refused.stderr
        assert "altered" in refused.stderr
    finally:
        assert source.stop() == 0
    target = tmp_path / "empty"
    refused = wess("import", str(dump), "--data-dir", str(target), ok=False)
    assert refused.returncode == 1
    assert not target.exists()
