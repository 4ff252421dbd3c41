"""docs/operations.md, run: every `sh` block in order, in a temporary directory, against
real servers (only the port differs), so the runbooks cannot rot.

Blocks are told apart by their info string: ```` ```sh ```` runs against the running
server (started again if an earlier block stopped it), ```` ```sh offline ```` with the
server stopped, ```` ```sh serve ```` starts it (in the background, until it is ready),
and the first ```` ```toml ```` block is ``wess.toml``. The systemd unit is checked with
``systemd-analyze verify`` where that exists. Installing with pip or Docker downloads
packages, so those blocks run only with ``WESS_TEST_INSTALL=1`` (pip) or
``WESS_TEST_DOCKER=1`` (Docker).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "operations.md"
BLOCK = re.compile(r"^```(?P<lang>\w+)(?P<tag>[^\n]*)\n(?P<body>.*?)^```", re.S | re.M)
BIN = Path(sys.executable).parent


def blocks() -> list[tuple[str, str, str]]:
    """(language, tag, body) of every fenced block, in order."""
    text = DOCUMENT.read_text()
    return [(m["lang"], m["tag"].strip(), m["body"]) for m in BLOCK.finditer(text)]


class Runbook:
    """The directory the runbooks work in, and the server they start and stop."""

    def __init__(self, workdir: Path, port: int, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = port
        self.env = env
        self.server: subprocess.Popen[bytes] | None = None
        self.serve_command: str | None = None
        self.log = workdir.parent / "serve.log"

    def run(self, body: str, *, substitute: bool = True) -> str:
        """Run ``body`` in bash (stopping at the first failure), the port substituted."""
        text = body.replace("8080", str(self.port)) if substitute else body
        script = "set -euo pipefail\n" + text
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, (
            f"{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n"
            f"--- server log\n{self.log.read_text() if self.log.exists() else ''}"
        )
        return result.stdout

    def serve(self, command: str) -> None:
        self.stop()
        self.serve_command = command
        with self.log.open("ab") as log:
            self.server = subprocess.Popen(
                ["bash", "-c", "exec " + command.strip()],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # waiting for readiness, not timing it
            assert self.server.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError(f"not ready:\n{self.log.read_text()}")
        self.env["WESS_URL"] = url
        if "WESS_API_KEY" not in self.env:  # the first start's admin key works throughout
            self.env["WESS_API_KEY"] = (self.workdir / "data" / "admin.key").read_text().strip()

    def running(self) -> None:
        if self.server is None:
            assert self.serve_command is not None, "a block needs a server no block started"
            self.serve(self.serve_command)

    def stop(self) -> None:
        if self.server is not None:
            self.server.send_signal(signal.SIGTERM)
            assert self.server.wait(60) == 0, self.log.read_text()
            self.server = None


def check_unit(body: str, runbook: Runbook) -> None:
    """The systemd unit parses, with its paths pointed at this checkout."""
    if shutil.which("systemd-analyze") is None:
        return
    unit = runbook.workdir.parent / "wess.service"
    unit.write_text(body.replace("/opt/wess/bin/wess", str(BIN / "wess")))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_every_runbook_command_runs(tmp_path: Path) -> None:
    """Each procedure of docs/operations.md, as written, exits 0; the state it leaves
    is what the document says."""
    workdir = tmp_path / "wess"
    workdir.mkdir()
    shutil.copytree(ROOT / "examples", workdir / "examples")
    target = ServerProcess(data_dir=tmp_path / "target", log_path=tmp_path / "target.log")
    target.start()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WESS_")}
    environment |= {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "TARGET_URL": target.url,
        "TARGET_KEY": target.token,
        "WESS_RELEASE": str(ROOT),
    }
    runbook = Runbook(workdir, free_port(), environment)
    ran: list[str] = []
    context = tmp_path / "image"
    try:
        for lang, tag, body in blocks():
            if lang == "dockerfile":
                shutil.copytree(ROOT, context, ignore=shutil.ignore_patterns(".*", "__pycache__"))
                (context / "Dockerfile").write_text(body)
            elif lang == "toml" and not (workdir / "wess.toml").exists():
                (workdir / "wess.toml").write_text(body.replace("8080", str(runbook.port)))
            elif lang == "ini" and tag == "systemd":
                check_unit(body, runbook)
            elif lang != "sh":
                continue
            elif tag == "install":
                if os.environ.get("WESS_TEST_INSTALL") == "1":
                    runbook.run(body.replace("/opt/wess", str(tmp_path / "opt")))
            elif tag == "docker":
                if os.environ.get("WESS_TEST_DOCKER") == "1":
                    runbook.run(f"cd {context}\n{body}", substitute=False)
                    runbook.run("docker rm -f wess")
            elif tag == "serve":
                runbook.serve(body)
            elif tag == "offline":
                runbook.stop()
                ran.append(runbook.run(body))
            else:
                assert tag == "", f"unknown block tag {tag!r}"
                runbook.running()
                ran.append(runbook.run(body))
        output = "\n".join(ran)
        with target.client() as client:
            moved = client.get("/v1/modules").json()["items"]
        salvaged_modules = runbook.run("wess ls -o json")
    finally:
        runbook.stop()
        target.stop()
    assert "adder" in output  # deployed, listed
    assert "revoked " in output
    assert "audit log intact" in output
    assert "store intact" in output
    assert [module["namespace"] for module in moved] == ["team-b"]
    assert '"name": "adder"' in salvaged_modules
