"""examples/: the committed .wasm of each example runs as its source says, and each
example's build script builds it again when its toolchain is here (skipped otherwise,
naming what to install)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from wess.runtime import Invocation, Runtime
from wess.runtime.command_io import CommandInput

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
C_INSTALL = "apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32"
AS_INSTALL = "apt-get install -y nodejs npm (build.sh then runs npm install)"


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with Runtime() as opened:
        yield opened


def run(runtime: Runtime, wasm: bytes, stdin: bytes) -> Invocation:
    return runtime.compile(wasm).function("_start").run_command(CommandInput(stdin=stdin))


def check_greet(runtime: Runtime, wasm: bytes) -> None:
    result = run(runtime, wasm, b'{"name": "Ada"}')
    assert json.loads(result.stdout) == {"greeting": "Hello, Ada!", "bytes_read": 15}
    assert result.exit_code == 0
    assert [line.message for line in result.logs] == ["read the request", "answered"]
    refused = run(runtime, wasm, b"{}")
    assert refused.exit_code == 2
    assert b"name" in refused.stderr


def check_upper(runtime: Runtime, wasm: bytes) -> None:
    result = run(runtime, wasm, '{"name": "ada"} é'.encode())
    assert result.stdout == '{"NAME": "ADA"} É'.encode()
    assert result.exit_code == 0
    assert [line.level for line in result.logs] == ["info", "debug"]
    assert result.logs[0].message == "read 17 characters"


def test_c_example_prebuilt(runtime: Runtime) -> None:
    """examples/c/greet.wasm answers JSON on stdin with JSON on stdout, and logs."""
    check_greet(runtime, (EXAMPLES / "c" / "greet.wasm").read_bytes())


def test_assemblyscript_example_prebuilt(runtime: Runtime) -> None:
    """examples/assemblyscript/upper.wasm upper-cases stdin, logs and reads the clock."""
    check_upper(runtime, (EXAMPLES / "assemblyscript" / "upper.wasm").read_bytes())


def _c_toolchain() -> bool:
    return shutil.which("clang") is not None and Path("/usr/include/wasm32-wasi").is_dir()


@pytest.mark.skipif(not _c_toolchain(), reason=f"no clang for wasm32-wasi: {C_INSTALL}")
def test_c_example_builds(runtime: Runtime, tmp_path: Path) -> None:
    """examples/c/build.sh builds greet.c into a module that behaves as the prebuilt."""
    built = tmp_path / "greet.wasm"
    done = subprocess.run(
        [str(EXAMPLES / "c" / "build.sh"), str(built)], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0 and "wasm32" in done.stderr:
        pytest.skip(
            f"clang cannot link wasm32-wasi here ({done.stderr.strip()[:200]}): {C_INSTALL}"
        )
    assert done.returncode == 0, done.stderr
    check_greet(runtime, built.read_bytes())


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason=f"no npm: {AS_INSTALL}")
def test_assemblyscript_example_builds(runtime: Runtime, tmp_path: Path) -> None:
    """examples/assemblyscript/build.sh (npm's assemblyscript) builds a module that
    behaves as the prebuilt; skipped when npm cannot install the compiler."""
    folder = EXAMPLES / "assemblyscript"
    if not (folder / "node_modules" / ".bin" / "asc").exists():
        installed = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0:
            pytest.skip(f"npm install failed ({installed.stderr.strip()[:200]}): {AS_INSTALL}")
    built = tmp_path / "upper.wasm"
    done = subprocess.run(
        [str(folder / "build.sh"), str(built)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    check_upper(runtime, built.read_bytes())
