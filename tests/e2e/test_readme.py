"""The README's examples, run as printed against a real server (only the port differs)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import wasm

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def shell_blocks(section: str) -> list[str]:
    """The ```sh blocks of one README section."""
    body = README.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", body, flags=re.S)


def run_block(block: str, port: int, data_dir: Path | None = None) -> str:
    script = "set -euo pipefail\n" + block.replace("localhost:8080", f"localhost:{port}")
    if data_dir is not None:
        script = script.replace("data/admin.key", str(data_dir / "admin.key"))
    result = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (
        f"{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result.stdout


def test_readme_opens_with_the_two_commands():
    """The first code block is `make run` and `make test`."""
    first = re.search(r"```sh\n(.*?)```", README, flags=re.S).group(1)
    assert [line.split()[:2] for line in first.strip().splitlines()] == [
        ["make", "run"],
        ["make", "test"],
    ]


def test_example_module_matches_its_source():
    """examples/sum.wasm is exactly what examples/sum.wat compiles to."""
    assert (ROOT / "examples/sum.wasm").read_bytes() == wasm("sum")


def test_try_it_examples_work_verbatim(server_factory):
    """Every curl example of 'Try it' runs and answers what the comments promise."""
    server = server_factory()
    v1, legacy, ops = shell_blocks("Try it")
    out = run_block(v1, server.port, server.data_dir)
    assert '"namespace":"team-a"' in out  # uploaded with the developer key
    assert '"results":[3]' in out
    assert '"code":"unauthenticated"' in out
    assert " 401" in out
    assert '"function":"sum"' in out
    assert '"fuel_used"' in out
    assert '"code":"invalid_arguments"' in out
    assert '"revision":2' in out
    assert out.rstrip().endswith("204")
    assert '{"message":[42]}' in run_block(
        "export WESS_API_KEY=$(cat data/admin.key)\n" + legacy, server.port, server.data_dir
    )
    ops_out = run_block(ops, server.port)
    assert '{"status":"ok"}' in ops_out
    assert '"status":"ready"' in ops_out
    assert "wess_http_requests_total" in ops_out


def test_rollback_examples_work_verbatim(server_factory):
    """'Revisions, aliases and rollback' runs as printed: the alias's run names
    revision 2 (in the body and Wess-Revision), the rollback's names revision 1, the
    canary is a weighted alias, and revision 2 still runs by number."""
    server = server_factory()
    (block,) = shell_blocks("Revisions, aliases and rollback")
    out = run_block(block, server.port, server.data_dir)
    assert '"name":"calc"' in out
    assert "wess-revision: 2" in out.lower()
    runs = re.findall(r'\{"results":\[3\],"function":"sum",[^}]*"revision":(\d)\}', out)
    assert runs == ["2", "1", "2"], out
    assert '{"weights":{"1":90,"2":10}}' in out
    assert '"current":true' in out


def test_command_line_examples(server_factory):
    """deploy prints an id; invoke prints the results; ls lists; rm deletes."""
    server = server_factory()
    env = {
        "WESS_URL": server.url,
        "WESS_API_KEY": server.token,
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "250",
    }

    def wess(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "wess", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    developer = wess("keys", "create", "--namespace", "team-a", "--role", "developer").strip()
    assert developer.startswith("wess_")
    assert "team-a" in wess("keys", "list")
    env["WESS_API_KEY"] = developer
    module_id = wess("deploy", "examples/sum.wasm", "--name", "adder", "--function", "sum").strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", module_id)
    shown = re.search(r"wess invoke <ID> sum 1 2 +# (.+)", README)
    assert shown is not None
    assert wess("invoke", module_id, "sum", "1", "2") == shown.group(1) + "\n"
    assert module_id in wess("ls")
    assert "deleted" in wess("rm", module_id)
    failed = subprocess.run(
        [sys.executable, "-m", "wess", "invoke", module_id, "1", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1
    assert "404" in failed.stderr


def test_the_client_example_runs(server_factory, tmp_path):
    """The wess.client example prints what its comments promise, against a real server."""
    import shutil

    server = server_factory()
    body = README.split("## Calling Wess from Python", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", body, flags=re.S)
    shutil.copytree(ROOT / "examples", server.data_dir.parent / "examples")
    result = subprocess.run(
        [sys.executable, "-c", code.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")],
        cwd=server.data_dir.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == "[3]"
    assert lines[2] == "['adder']"
    assert lines[3] == "module_not_found 404"


def test_wasi_command_examples_work_verbatim(server_factory):
    """The WASI section's curl examples deploy examples/c/greet.wasm and answer what
    their comments promise: JSON on stdin, logs, a raw body, a failing command."""
    server = server_factory()
    (block,) = shell_blocks("Deploy a WASI function and call it with JSON on stdin")
    out = run_block(block, server.port, server.data_dir)
    assert '"stdout":"{\\"greeting\\": \\"Hello, Ada!\\", \\"bytes_read\\": 15}\\n"' in out
    assert '"exit_code":0,"truncated":{"stdout":false,"stderr":false}' in out
    assert '"logs":[{"level":"info","message":"read the request"}' in out
    assert '{"greeting": "Hello, Grace!", "bytes_read": 18}\n' in out
    assert 'expected a JSON object with a \\"name\\" string\\n","exit_code":2' in out


def test_component_examples_work_verbatim(server_factory):
    """The first block of the component section runs as printed (the Python block is
    run by tests/examples/test_python.py, which builds the same example)."""
    server = server_factory()
    component, python = shell_blocks(
        "A function written in Python: strings and records in, strings and records out"
    )
    assert "wess deploy examples/python/app.py --wit examples/python/world.wit" in python
    prefix = f"export WESS_URL={server.url}\nexport WESS_API_KEY={server.token}\n"
    out = run_block(prefix + component, server.port)
    assert "greet: func(who: string) -> string" in out
    assert '["Hello, Ada!"]' in out
    assert '{"results":[{"name":"Ada","age":37}],"function":"birthday"' in out
