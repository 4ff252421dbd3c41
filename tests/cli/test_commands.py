"""The command line against a real server: what an operator types and what they see."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import wasm
from tests.support import ServerProcess

pytestmark = pytest.mark.e2e
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("cli")
    started = ServerProcess(data_dir=root / "data", log_path=root / "wess.log").start()
    try:
        yield started
    finally:
        started.kill()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wasm")
    for name in ("sum", "numbers", "traps", "burn", "counter"):
        (root / f"{name}.wasm").write_bytes(wasm(name))
    return root


def wess(
    server: ServerProcess,
    *args: str,
    key: str | None = None,
    ok: bool = True,
    cwd: Path | None = None,
    columns: int = 40,
) -> subprocess.CompletedProcess[str]:
    """`wess ARGS` as a user runs it (a narrow terminal: nothing may be cut to fit)."""
    environment = {"WESS_URL": server.url, "PATH": "/usr/bin:/bin", "COLUMNS": str(columns)}
    if key != "":
        environment["WESS_API_KEY"] = key or server.token
    result = subprocess.run(
        [sys.executable, "-m", "wess", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or server.data_dir.parent,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def deploy(server: ServerProcess, files: Path, name: str, *extra: str, key: str | None = None):
    return wess(server, "deploy", str(files / f"{name}.wasm"), *extra, key=key).stdout.strip()


def test_ls_shows_whole_ids_and_an_admin_sees_every_namespace(server, files):
    """On a 40-column terminal (and through a pipe) every id is whole; the admin's
    listing names each module's namespace; -o json gives the documents."""
    developer = wess(
        server, "keys", "create", "--namespace", "team-a", "--role", "developer"
    ).stdout.strip()
    theirs = deploy(server, files, "sum", key=developer)
    ours = deploy(server, files, "numbers")
    table = wess(server, "ls").stdout
    rows = {line.split()[0]: line.split()[1] for line in table.splitlines()[1:]}
    assert rows[theirs] == "team-a"
    assert rows[ours] == "default"
    assert table.splitlines()[0].split()[:2] == ["ID", "NAMESPACE"]
    wide = wess(server, "ls", "-o", "wide").stdout
    assert "DIGEST" in wide.splitlines()[0]
    assert "sha256:" in wide
    documents = json.loads(wess(server, "ls", "--output", "json").stdout)
    assert {theirs, ours} <= {document["id"] for document in documents}
    mine = wess(server, "ls", key=developer).stdout
    assert theirs in mine
    assert ours not in mine


def test_invoke_takes_negative_numbers_limits_and_json_args(server, files):
    """`invoke ID fn -1 2` passes -1; --json-args gives the arguments as JSON; --fuel and
    --timeout-ms lower the limits (a loop runs out of fuel); -o json shows fuel used."""
    module_id = deploy(server, files, "sum")
    assert wess(server, "invoke", module_id, "sum", "-1", "-2").stdout == "[-3]\n"
    assert wess(server, "invoke", module_id, "sum", "--json-args", "[-5, 2]").stdout == "[-3]\n"
    answer = json.loads(
        wess(server, "invoke", module_id, "sum", "1", "2", "--fuel", "1000", "-o", "json").stdout
    )
    assert answer["results"] == [3]
    assert 0 < answer["fuel_used"] <= 1000
    burn = deploy(server, files, "burn")
    spun = wess(
        server, "invoke", burn, "burn", "1000000", "--fuel", "1000", "--timeout-ms", "500", ok=False
    )
    assert spun.returncode == 1
    assert "fuel" in spun.stderr


def test_get_and_update(server, files, tmp_path):
    """get shows the metadata and every function; update replaces the bytes (revision 2);
    an --if-match that no longer holds is refused with the server's reason."""
    module_id = deploy(server, files, "sum", "--name", "adder", "--function", "sum")
    shown = wess(server, "get", module_id, "--wasm", str(tmp_path / "copy.wasm")).stdout
    assert re.search(r"^name:\s+adder$", shown, re.M)
    assert "sum(i32, i32) -> (i32)" in shown
    assert (tmp_path / "copy.wasm").read_bytes() == wasm("sum")
    document = json.loads(wess(server, "get", module_id, "-o", "json").stdout)
    updated = wess(
        server, "update", module_id, str(files / "numbers.wasm"), "--function", "id_i32"
    ).stdout
    assert updated.startswith(f"{module_id} revision 2 sha256:")
    stale = wess(
        server,
        "update",
        module_id,
        str(files / "sum.wasm"),
        "--function",
        "sum",
        "--if-match",
        document["digest"],
        ok=False,
    )
    assert stale.returncode == 1
    assert stale.stderr.startswith("error: 412 ")


def test_deploying_many_files_shows_progress(server, files):
    """Several files: one line per module (id and file) on stdout, progress on stderr."""
    paths = [str(files / f"{name}.wasm") for name in ("sum", "numbers", "counter")]
    result = wess(server, "deploy", *paths)
    lines = result.stdout.splitlines()
    assert [line.split("  ")[1] for line in lines] == paths
    assert all(UUID.fullmatch(line.split("  ")[0]) for line in lines)
    assert "deploying ..." in result.stderr
    assert "deploying: done, 3 files" in result.stderr


def test_keys_by_prefix_and_as_listed(server):
    """A key is revoked by a unique prefix of its id, as printed by keys list; keys list
    shows whole ids in every format."""
    token = wess(server, "keys", "create", "--namespace", "ns-x", "--role", "viewer").stdout
    key_id = token.strip().split("_")[1]
    listed = wess(server, "keys", "list").stdout
    assert any(line.split()[0] == key_id for line in listed.splitlines())
    assert key_id in {
        item["id"] for item in json.loads(wess(server, "keys", "list", "-o", "json").stdout)
    }
    ambiguous = wess(server, "keys", "revoke", "", ok=False)
    assert ambiguous.returncode == 1
    assert "give more of it" in ambiguous.stderr
    assert wess(server, "keys", "revoke", key_id[:10]).stdout == f"revoked {key_id}\n"


def test_a_missing_key_says_where_it_looked(server, tmp_path):
    """No --key, no $WESS_API_KEY, no ./data/admin.key: the error names all three and
    how to get a key."""
    result = wess(server, "ls", key="", ok=False, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    for place in ("$WESS_API_KEY", "--key", "./data/admin.key", "wess keys create"):
        assert place in result.stderr


def test_the_audit_log_reads_as_a_table_or_json(server, files):
    """audit log lists entries (filtered), whole, in every format."""
    deploy(server, files, "sum")
    table = wess(server, "audit", "log", "--action", "module.create", "--limit", "2").stdout
    assert table.splitlines()[0].split() == ["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME"]
    assert len(table.splitlines()) == 3
    entries = json.loads(wess(server, "audit", "log", "-o", "json").stdout)
    assert {"seq", "hash", "prev_hash"} <= entries[0].keys()


def test_an_unreachable_server_is_one_line(tmp_path):
    """No server at the URL: one error line naming it, status 1, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "wess", "ls", "--url", "http://127.0.0.1:9", "--key", "k"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach Wess at http://127.0.0.1:9")
    assert "Traceback" not in result.stderr
