"""Three `wess serve` processes sharing one PostgreSQL store, as behind a load balancer.

Create on A, run on B and C; update on A, B and C serve the new revision; delete on B,
A and C answer 404; keys revoked on one node are refused by the others; B killed with
SIGKILL under load, A and C keep answering and no acknowledged write is lost; the
nodes' database connections cut, they report not ready, then recover on their own.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from tests.fixtures import distinct_sum, wasm
from tests.support import POSTGRES, ServerProcess, eventually, postgres_schema

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}


@contextmanager
def three_nodes(tmp_path: Path, **extra: str) -> Iterator[list[ServerProcess]]:
    """Nodes a, b and c on one fresh schema, sharing one server secret."""
    name = f"t_{secrets.token_hex(6)}"
    secret = tmp_path / "shared" / "server.secret"
    with postgres_schema(name) as url:
        nodes: list[ServerProcess] = []
        try:
            for letter in "abc":
                env = {
                    "WESS_DATABASE_URL": url,
                    "WESS_SECURITY_SECRET_FILE": str(secret),
                    "WESS_SERVER_NODE_ID": f"node-{letter}",
                    "WESS_SERVER_WORKERS": "1",  # a node per process: tests/e2e/test_workers.py
                    **extra,
                }
                node = ServerProcess(
                    data_dir=tmp_path / letter, log_path=tmp_path / f"{letter}.log", env=env
                )
                nodes.append(node.start())
            yield nodes
        finally:
            for node in nodes:
                if node.process is not None and node.process.poll() is None:
                    node.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    with three_nodes(tmp_path) as nodes:
        yield nodes


def test_a_change_on_one_node_is_served_by_every_node(cluster: list[ServerProcess]) -> None:
    a, b, c = cluster
    token = a.token  # the admin key minted by the first node, stored in the shared store
    with a.client(token) as on_a, b.client(token) as on_b, c.client(token) as on_c:
        assert {on_a.get("/readyz").headers["x-wess-node"] for _ in range(1)} == {"node-a"}
        created = on_a.post(
            "/v1/modules", content=wasm("sum"), headers=WASM, params={"function": "sum"}
        )
        assert created.status_code == 201, created.text
        module = created.json()["id"]
        for node in (on_b, on_c):
            assert node.post(f"/v1/modules/{module}/run", json={"args": [2, 3]}).json()[
                "results"
            ] == [5]
        updated = on_a.put(f"/v1/modules/{module}", content=distinct_sum(7), headers=WASM)
        assert updated.status_code == 200, updated.text
        digest = updated.json()["digest"]
        for node in (on_b, on_c):
            eventually(
                lambda n=node: n.get(f"/v1/modules/{module}").json()["digest"] == digest,
                "the update",
            )
        assert on_b.delete(f"/v1/modules/{module}").status_code == 204
        for node in (on_a, on_c):
            eventually(
                lambda n=node: n.get(f"/v1/modules/{module}").status_code == 404, "the delete"
            )
        nodes = on_c.get("/v1/cluster/nodes").json()["items"]
        assert [n["id"] for n in nodes] == ["node-a", "node-b", "node-c"]
        verify = on_b.get("/v1/audit/verify").json()
        assert verify["ok"], verify


def test_a_key_revoked_on_one_node_is_refused_by_the_others(cluster: list[ServerProcess]) -> None:
    a, b, c = cluster
    token = a.token
    with a.client(token) as on_a:
        minted = on_a.post("/v1/keys", json={"namespace": "team", "role": "developer", "name": "x"})
        key_id, key = minted.json()["id"], minted.json()["token"]
    with b.client(key) as as_b, c.client(key) as as_c:
        eventually(lambda: as_b.get("/v1/modules").status_code == 200, "the new key on B")
        assert as_c.get("/v1/modules").status_code == 200
        with a.client(token) as on_a:
            assert on_a.delete(f"/v1/keys/{key_id}").status_code == 204
        for node in (as_b, as_c):
            eventually(lambda n=node: n.get("/v1/modules").status_code == 401, "the revoke")


def test_a_node_killed_under_load_loses_no_acknowledged_write(cluster: list[ServerProcess]) -> None:
    a, b, c = cluster
    token = a.token
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(node: ServerProcess, seed: int) -> None:
        with node.client(token, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.post("/v1/modules", content=distinct_sum(seed), headers=WASM)
                except httpx.HTTPError:  # B is gone: its in-flight writes were never acknowledged
                    time.sleep(0.05)
                    continue
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(response.json()["id"])
                seed += 3

    threads = [threading.Thread(target=writer, args=(node, i)) for i, node in enumerate(cluster)]
    for thread in threads:
        thread.start()
    eventually(lambda: len(acknowledged) >= 30, "30 writes")
    b.kill()
    with lock:
        before = len(acknowledged)
    eventually(lambda: len(acknowledged) >= before + 20, "writes after the kill")
    stop.set()
    for thread in threads:
        thread.join()
    with a.client(token) as on_a, c.client(token) as on_c:
        for module_id in acknowledged:
            assert on_a.get(f"/v1/modules/{module_id}").status_code == 200
        assert on_c.get("/readyz").status_code == 200


def test_database_connections_cut_under_load_nodes_fail_fast_then_recover(
    cluster: list[ServerProcess],
) -> None:
    """Every connection of the three nodes to PostgreSQL is cut (reads, writes, the
    change feed) while each node is creating and running modules: each notices, is not
    ready while it does not listen, answers 503 (never hangs, never a wrong answer),
    and recovers by itself within 10 s; every acknowledged create is then stored."""
    a, _, c = cluster
    token = a.token
    with a.client() as on_a:
        known = on_a.post(
            "/v1/modules", content=wasm("sum"), headers=WASM, params={"function": "sum"}
        ).json()["id"]
    acknowledged: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    failures: list[str] = []

    def load(node: ServerProcess, seed: int) -> None:
        # a client timeout far above any answer's: a hung request fails the test
        with node.client(token, timeout=15) as client:
            while not stop.is_set():
                try:
                    created = client.post("/v1/modules", content=distinct_sum(seed), headers=WASM)
                    ran = client.post(f"/v1/modules/{known}/run", json={"args": [2, 2]})
                    if ran.status_code == 200 and ran.json()["results"] != [4]:
                        raise AssertionError(f"a wrong answer: {ran.text}")
                except (httpx.HTTPError, AssertionError) as exc:
                    failures.append(f"{node.env['WESS_SERVER_NODE_ID']}: {exc!r}")
                    return
                with lock:
                    statuses.extend((created.status_code, ran.status_code))
                    if created.status_code == 201:
                        acknowledged.append(created.json()["id"])
                seed += 3

    threads = [threading.Thread(target=load, args=(n, i)) for i, n in enumerate(cluster)]
    for thread in threads:
        thread.start()
    eventually(lambda: len(acknowledged) >= 15, "15 writes before the cut")
    schema = parse_qs(urlsplit(a.env["WESS_DATABASE_URL"]).query)["schema"][0]
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            (f"wess/{schema}",),
        ).fetchone()
    assert killed is not None
    assert killed[0] >= 6  # at least each node's change feed and one pooled read each
    for node in cluster:  # each noticed, dropped its caches and was not ready meanwhile
        eventually(lambda n=node: "change feed lost" in n.log(), "the loss noticed")
    for node in cluster:
        with node.client(token) as client:
            eventually(lambda n=client: n.get("/readyz").status_code == 200, "recovery")
    with lock:
        before = len(acknowledged)
    eventually(lambda: len(acknowledged) >= before + 15 or failures, "writes after the recovery")
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert set(statuses) <= {200, 201, 503}, sorted(set(statuses))
    with c.client(token) as on_c:
        for module_id in acknowledged:
            assert on_c.get(f"/v1/modules/{module_id}").status_code == 200


def test_a_quota_holds_across_nodes(tmp_path: Path) -> None:
    """max_modules = 4 and creates sent to all three nodes at once: exactly four are
    stored, the rest refused with 507, whichever node they reached (each node checks
    the usage inside its transaction, under the lock all nodes' writers share)."""
    with three_nodes(tmp_path, WESS_QUOTAS_MAX_MODULES="4") as nodes:
        token = nodes[0].token
        statuses: list[int] = []
        lock = threading.Lock()

        def create(node: ServerProcess, seed: int) -> None:
            with node.client(token) as client:
                response = client.post("/v1/modules", content=distinct_sum(seed), headers=WASM)
            with lock:
                statuses.append(response.status_code)

        threads = [threading.Thread(target=create, args=(nodes[i % 3], i)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [201] * 4 + [507] * 8
        with nodes[1].client(token) as client:
            assert client.get("/").json()["message"] == 4
