"""Functions written in Python: built into a WebAssembly component by componentize-py.

``wess deploy app.py --wit world.wit`` builds ``app.py`` against the WIT world with
componentize-py (an optional dependency: ``pip install 'wess[python]'``), in a
subprocess, and hands the component's bytes back to be uploaded like any other.
The Python module must define the class ``componentize-py bindings`` generates for the
world (``WitWorld`` for ``world greeter { ... }`` targeted as the default world).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

from wess.errors import InvalidRequest

COMPONENTIZE_PY = "componentize-py==0.25.1"
INSTALL = f"pip install 'wess[python]' (or: pip install {COMPONENTIZE_PY})"
LAUNCHER = (
    "import sys; from componentize_py import script; "
    "sys.argv[0] = 'componentize-py'; sys.exit(script())"
)
BUILD_TIMEOUT = 600.0


def available() -> bool:
    """Whether componentize-py is installed beside Wess."""
    return importlib.util.find_spec("componentize_py") is not None


def build_python_component(source: Path, *, wit: Path, world: str | None = None) -> bytes:
    """The component built from the Python module ``source`` for the world in ``wit``
    (a .wit file or a directory of them); ``InvalidRequest`` with componentize-py's own
    message when it cannot be built."""
    if not available():
        raise InvalidRequest(f"building a Python function needs componentize-py: {INSTALL}")
    if source.suffix != ".py":
        raise InvalidRequest(f"{source} is not a Python module (.py)")
    with tempfile.TemporaryDirectory(prefix="wess-build-") as scratch:
        output = Path(scratch) / f"{source.stem}.wasm"
        command = [sys.executable, "-c", LAUNCHER, "-q", "-d", str(wit.resolve())]
        if world is not None:
            command += ["-w", world]
        command += [
            "componentize",
            "-p",
            str(source.resolve().parent),
            source.stem,
            "-o",
            str(output),
        ]
        try:
            done = subprocess.run(  # noqa: S603 (our own interpreter, our arguments)
                command,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
                check=False,
                cwd=scratch,
            )
        except subprocess.TimeoutExpired:
            raise InvalidRequest(
                f"componentize-py did not finish within {BUILD_TIMEOUT:.0f} s"
            ) from None
        if done.returncode != 0 or not output.exists():
            raise InvalidRequest(
                f"componentize-py could not build {source}: {_reason(done.stderr)}"
            )
        return output.read_bytes()


def _reason(stderr: str) -> str:
    """componentize-py's error without its Rust backtrace."""
    lines = []
    for line in stderr.splitlines():
        if line.startswith("Stack backtrace:"):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines[-12:]) or "no reason given"
