"""`wess serve --workers 2`: a supervisor and two server processes on one port, each a
node of the shared PostgreSQL store.

Both serve, as nodes of the store; a create reaches every process; a worker killed
with SIGKILL is started again while the other goes on answering; a worker that cannot
start stops the supervisor with an error; SIGHUP reaches every worker, which reloads
(and lives on); SIGTERM stops everything with status 0; the supervisor killed takes its
workers with it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures import wasm
from tests.support import ServerProcess, eventually, postgres_schema

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}


@contextmanager
def supervised(tmp_path: Path, **extra: str) -> Iterator[ServerProcess]:
    """`wess serve` with two workers on a fresh schema, both serving."""
    with postgres_schema(f"w_{secrets.token_hex(6)}") as url:
        server = ServerProcess(
            data_dir=tmp_path / "data",
            log_path=tmp_path / "wess.log",
            env={
                "WESS_DATABASE_URL": url,
                "WESS_SERVER_WORKERS": "2",
                "WESS_SERVER_NODE_ID": "node",
                **extra,
            },
        )
        try:
            server.start()
            eventually(lambda: logged(server, "worker serving", worker=1), "worker 1 serving")
            yield server
        finally:
            if server.process is not None and server.process.poll() is None:
                server.stop()


def logged(server: ServerProcess, event: str, **fields: Any) -> list[dict[str, Any]]:
    """The JSON log lines of ``server`` for ``event`` with ``fields``."""
    found = []
    for line in server.log().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == event and all(entry.get(k) == v for k, v in fields.items()):
            found.append(entry)
    return found


def fresh(server: ServerProcess) -> httpx.Client:
    """A client opening a new connection per request, so the kernel hands each to
    whichever worker accepts it."""
    client = server.client()
    client.headers["connection"] = "close"
    return client


def gone(pid: int) -> bool:
    """Whether process ``pid`` ended (no such process, or a zombie nobody reaped yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def test_two_workers_serve_one_port_as_nodes_of_the_store(tmp_path: Path) -> None:
    with supervised(tmp_path) as server, fresh(server) as client:
        ids = {"node.0", "node.1"}
        eventually(
            lambda: ids <= {n["id"] for n in client.get("/v1/cluster/nodes").json()["items"]},
            "both workers listed as nodes",
        )
        created = client.post(
            "/v1/modules", content=wasm("sum"), headers=WASM, params={"function": "sum"}
        )
        assert created.status_code == 201, created.text
        module = created.json()["id"]
        answered_by = set()
        for i in range(20):
            run = client.post(f"/v1/modules/{module}/run", json={"args": [i, 1]})
            assert run.status_code == 200, run.text
            assert run.json()["results"] == [i + 1]
            answered_by.add(run.headers["x-wess-node"])
        assert answered_by <= ids
        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)  # relayed: each worker reloads, none dies
        eventually(
            lambda: {e["node"] for e in logged(server, "configuration reloaded")} == ids,
            "both workers reloaded",
        )
        assert server.stop() == 0
        assert {e["node"] for e in logged(server, "wess stopped")} == {"node", *ids}
        assert logged(server, "worker died; starting it again") == []


def test_a_killed_worker_is_started_again_while_the_other_serves(tmp_path: Path) -> None:
    with supervised(tmp_path) as server, fresh(server) as client:
        created = client.post(
            "/v1/modules", content=wasm("sum"), headers=WASM, params={"function": "sum"}
        )
        module = created.json()["id"]
        (first,) = logged(server, "worker started", worker=1)
        os.kill(first["pid"], signal.SIGKILL)
        eventually(lambda: gone(first["pid"]), "worker 1 gone")
        for i in range(10):  # worker 0 alone, then both
            run = client.post(f"/v1/modules/{module}/run", json={"args": [i, 2]})
            assert (run.status_code, run.json()["results"]) == (200, [i + 2])
        eventually(lambda: len(logged(server, "worker serving", worker=1)) == 2, "a restart")
        (died,) = logged(server, "worker died; starting it again")
        assert (died["worker"], died["status"]) == (1, -signal.SIGKILL)
        assert logged(server, "worker started", worker=1)[1]["pid"] != first["pid"]
        assert server.stop() == 0


def test_the_supervisor_killed_takes_its_workers_with_it(tmp_path: Path) -> None:
    with supervised(tmp_path) as server:
        pids = [e["pid"] for e in logged(server, "worker started")]
        assert len(pids) == 2
        server.kill()
        for pid in pids:
            eventually(lambda p=pid: gone(p), f"worker {pid} stopped")


def test_a_worker_that_cannot_start_stops_the_supervisor(tmp_path: Path) -> None:
    """Nothing listens on port 1: the first worker cannot open the store, and the
    supervisor stops (status 1) instead of starting it again forever."""
    data = tmp_path / "data"
    data.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WESS_")}
    environment.update(
        {
            "WESS_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/test",
            "WESS_DB_PATH": str(data),
            "WESS_SERVER_WORKERS": "2",
            "WESS_LOGGING_FORMAT": "json",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "wess", "serve", "--port", "0"],
        env=environment,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr.decode()
    said = done.stderr.decode()
    assert '"worker could not start"' in said
    assert "error: a server process could not start" in said
    assert said.count('"worker started"') == 1  # never the second, never again
