"""`wess deploy` and `wess invoke` against a real server: what a user sees."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import wasm
from tests.support import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    started = ServerProcess(data_dir=tmp_path / "data", log_path=tmp_path / "wess.log").start()
    try:
        yield started
    finally:
        started.kill()


def wess(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "wess", *args],
        env={"WESS_URL": server.url, "WESS_API_KEY": server.token, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def deploy(server: ServerProcess, tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.wasm"
    path.write_bytes(wasm(name))
    return wess(server, "deploy", str(path)).stdout.strip()


def test_invoke_prints_the_results_on_one_line(server, tmp_path):
    """The results are one JSON line, as the README shows: `[3]`."""
    module_id = deploy(server, tmp_path, "sum")
    result = wess(server, "invoke", module_id, "sum", "1", "2")
    assert (result.stdout, result.stderr) == ("[3]\n", "")


def test_invoke_prints_what_the_function_wrote(server, tmp_path):
    """What the function wrote to stdout precedes its results on stdout; what it wrote
    to stderr goes to stderr."""
    hello = deploy(server, tmp_path, "hello_wasi")
    result = wess(server, "invoke", hello, "hello")
    assert (result.stdout, result.stderr) == ("hello\n[0]\n", "")
    io = deploy(server, tmp_path, "wasi_io")
    result = wess(server, "invoke", io, "shout", "2", "2")
    assert (result.stdout, result.stderr) == ("[0]\n", "0123456789abcdef" * 2 + "\n")
    result = wess(server, "invoke", io, "shout", "1", "1")
    assert (result.stdout, result.stderr) == ("0123456789abcdef\n[0]\n", "")


def test_invoke_runs_a_command_and_prints_logs(server, tmp_path):
    """--stdin and --arg run a WASI command: its stdout and stderr as they are; --logs
    prints a function's log lines to stderr."""
    echo = deploy(server, tmp_path, "echo_command")
    given = tmp_path / "in.json"
    given.write_text('{"hello": "wess"}\n')
    result = wess(server, "invoke", echo, "--stdin", str(given), "--arg", "prog", "--arg", "x")
    assert (result.stdout, result.stderr) == ('{"hello": "wess"}\n', "prog\nx\n")
    logged = deploy(server, tmp_path, "host_api")
    result = wess(server, "invoke", logged, "work", "1", "--logs")
    assert (result.stdout, result.stderr) == ("[1]\n", "[info] starting\n[warn] done ✓\n")
