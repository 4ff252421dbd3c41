"""A real server process: restarts and kill -9 keep every acknowledged module."""

from __future__ import annotations

import subprocess
import sys
import threading

import httpx
import pytest

from tests.fixtures import wasm

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}


def test_restart_keeps_every_acknowledged_module(server_factory):
    """Modules acknowledged before a graceful stop are all there, intact, after a restart."""
    server = server_factory()
    created = {}
    with server.client() as client:
        for name in ("sum", "counter", "numbers", "traps"):
            response = client.post("/v1/modules", content=wasm(name), headers=WASM)
            assert response.status_code == 201, response.text
            created[response.json()["id"]] = name
    assert server.stop() == 0

    again = server_factory()
    with again.client() as client:
        for module_id, name in created.items():
            assert client.get(f"/v1/modules/{module_id}/wasm").content == wasm(name)
        run = client.post(f"/v1/modules/{next(iter(created))}/run", json={"args": [2, 3]})
        assert run.json()["results"] == [5]


def test_kill_9_during_writes_loses_no_acknowledged_module(server_factory):
    """Concurrent uploads, then kill -9: every upload that got its 201 survives."""
    server = server_factory()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer() -> None:
        with server.client() as client:
            while not stop.is_set():
                try:
                    response = client.post("/v1/modules", content=wasm("sum"), headers=WASM)
                except httpx.HTTPError:
                    return
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(response.json()["id"])

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    while True:
        with lock:
            if len(acknowledged) >= 150:
                break
        threading.Event().wait(0.01)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join()

    again = server_factory()
    with again.client() as client:
        missing = [i for i in acknowledged if client.get(f"/v1/modules/{i}").status_code != 200]
        assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged lost"
        count = client.get("/").json()["message"]
        assert count >= len(acknowledged)


def test_bad_configuration_stops_start_up_naming_the_key(tmp_path):
    """A bad value ends `wess serve` at once with status 2 and a message naming it."""
    result = subprocess.run(
        [sys.executable, "-m", "wess", "serve", "--data-dir", str(tmp_path / "d")],
        env={"PATH": "/usr/bin:/bin", "WESS_RUNNER_TIMEOUT": "-5"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "runner.timeout" in result.stderr
    assert "'-5'" in result.stderr


def test_a_refusal_from_the_machine_is_one_sentence_not_a_traceback(tmp_path):
    """A data directory Wess cannot create (a file stands in its way) ends start-up
    with status 1, one plain sentence on stderr naming the path, and no traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = subprocess.run(
        [sys.executable, "-m", "wess", "serve", "--port", "0", "--data-dir", str(blocker / "d")],
        env={"PATH": "/usr/bin:/bin", "WESS_LOGGING_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert str(blocker) in lines[0]
