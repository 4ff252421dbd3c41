"""`wess serve` as a process: an address it cannot bind stops it before anything else."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_a_port_in_use_stops_start_up_before_anything_is_created(tmp_path):
    """On a taken port `wess serve` exits non-zero with one plain sentence naming the
    address, and one structured log line; no traceback, and no data dir, secret or
    admin key left behind."""
    data_dir = tmp_path / "data"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WESS_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "wess", "serve", "--port", str(port), "--data-dir", data_dir],
            env={**environment, "WESS_LOGGING_FORMAT": "json"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    plain = [line for line in lines if not line.startswith("{")]
    assert plain == [
        f"error: cannot listen on 127.0.0.1:{port}: the address is already in use (another "
        "process listens there); stop that process or choose another port with --port"
    ]
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert [(entry["level"], entry["code"]) for entry in logged] == [("error", "cannot_listen")]
    assert f"127.0.0.1:{port}" in logged[0]["detail"]
    assert "Traceback" not in result.stderr + result.stdout
    assert not data_dir.exists()
    assert list(tmp_path.iterdir()) == []
