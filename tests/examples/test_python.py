"""examples/python: a function written in Python, built by componentize-py, deployed
with `wess deploy app.py --wit world.wit` and called with strings, lists, records,
options, results, enums and variants, against a real server.

Building (about 10 s) and compiling (about 7 s of CPU) the 18 MB component is the
slow part, done once for the whole module. Skipped, naming the install command, when
componentize-py is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ServerProcess
from wess.cli.python_components import INSTALL, available
from wess.client import Client

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not available(), reason=f"componentize-py is not installed: {INSTALL}"),
]
EXAMPLE = Path(__file__).parents[2] / "examples" / "python"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("python-example")
    started = ServerProcess(data_dir=root / "data", log_path=root / "wess.log").start()
    try:
        yield started
    finally:
        started.kill()


def wess(server: ServerProcess, *args: str) -> str:
    """`wess ARGS` as a user types it; its standard output."""
    result = subprocess.run(
        [sys.executable, "-m", "wess", *args],
        env={"WESS_URL": server.url, "WESS_API_KEY": server.token, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def deployed(server: ServerProcess) -> tuple[str, list[str]]:
    """The example deployed as the README shows: its id, then its functions."""
    lines = wess(
        server,
        "deploy",
        str(EXAMPLE / "app.py"),
        "--wit",
        str(EXAMPLE / "world.wit"),
        "--name",
        "greeter",
    ).splitlines()
    return lines[0], [line.strip() for line in lines[1:]]


def test_deploy_prints_the_id_and_the_functions(deployed):
    """`wess deploy app.py --wit world.wit` prints the id, then each function's type."""
    _, functions = deployed
    assert functions[0] == "greet: func(who: string) -> string"
    assert functions[2] == (
        "birthday: func(p: record { name: string, age: u32 }) -> record { name: string, age: u32 }"
    )
    assert [f.split(":")[0] for f in functions] == [
        "greet",
        "shout",
        "birthday",
        "find",
        "parse-age",
        "feel",
        "area",
    ]


def test_invoke_with_strings_and_records(server, deployed):
    """The README's calls, typed as shown there."""
    module_id, _ = deployed
    greeting = wess(server, "invoke", module_id, "greet", "--json-args", '["Ada"]')
    assert json.loads(greeting) == ["Hello, Ada!"]
    older = wess(
        server, "invoke", module_id, "birthday", "--json-args", '[{"name": "Ada", "age": 36}]'
    )
    assert json.loads(older) == [{"name": "Ada", "age": 37}]


@pytest.mark.parametrize(
    ("function", "args", "results"),
    [
        ("shout", [["hi", "there"]], [["HI", "THERE"]]),
        ("find", [["a", "b"], "b"], [1]),
        ("find", [["a"], "z"], [None]),
        ("parse-age", ["42"], [{"ok": 42}]),
        ("parse-age", ["old"], [{"err": "not an age: 'old'"}]),
        ("feel", ["happy"], ["glad to hear it"]),
        ("area", [{"square": 3.0}], [9.0]),
        ("area", [{"dot": None}], [0.0]),
    ],
)
def test_every_kind_of_value(server, deployed, function, args, results):
    """Lists, options, results, enums and variants, as their JSON forms."""
    module_id, _ = deployed
    with Client(server.url, token=server.token) as client:
        assert client.run(module_id, function, args).results == results
