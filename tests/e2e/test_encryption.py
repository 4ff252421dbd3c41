"""Encryption at rest through a real server: seal, rotate online, restart, refuse."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fixtures import wasm
from tests.support import ServerProcess, free_port
from wess.security.crypto import generate_kek

pytestmark = pytest.mark.e2e
WASM = {"content-type": "application/wasm"}


def test_rotate_online_then_restart_and_refuse_without_the_key(tmp_path):
    """Modules sealed under a KEK survive an online rotation and a restart; the store
    refuses to open without the key, with a message that says why."""
    kek = tmp_path / "kek"
    kek.write_text(generate_kek())
    kek.chmod(0o600)
    env = {"WESS_SECURITY_ENCRYPTION_KEY_FILE": str(kek)}
    server = ServerProcess(
        data_dir=tmp_path / "data", log_path=tmp_path / "wess.log", env=env
    ).start()
    with server.client() as client:
        module_id = client.post("/v1/modules", content=wasm("sum"), headers=WASM).json()["id"]
    old_key = kek.read_text()
    rotated = subprocess.run(
        [sys.executable, "-m", "wess", "keys", "rotate-kek"],
        env={"WESS_URL": server.url, "WESS_API_KEY": server.token, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "re-wrapped" in rotated.stdout
    assert kek.read_text() != old_key
    assert list(tmp_path.glob("kek.retired-*"))  # the old key kept for backups
    with server.client() as client:
        assert client.post(f"/v1/modules/{module_id}/run", json={"args": [2, 3]}).json()[
            "results"
        ] == [5]
    assert server.stop() == 0

    again = ServerProcess(
        data_dir=tmp_path / "data", log_path=tmp_path / "wess.log", env=env
    ).start()
    with again.client() as client:
        assert client.get(f"/v1/modules/{module_id}/wasm").content == wasm("sum")
    assert again.stop() == 0

    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "wess",
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(free_port()),
        ],
        env={"PATH": "/usr/bin:/bin", "WESS_LOGGING_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert refused.returncode == 1
    assert "encryption_key_file" in refused.stderr
