"""Client commands for modules: deploy, invoke, ls, get, update, rm."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wess.cli.common import (
    DEFAULT_URL,
    CaOption,
    KeyOption,
    UrlOption,
    connect,
    err,
    failures,
)
from wess.cli.output import Column, Output, OutputOption, emit, emit_document, size
from wess.cli.progress import Meter
from wess.cli.python_components import build_python_component
from wess.client import Module, RunResult

app = typer.Typer()

SPECIAL_NUMBERS = frozenset({"NaN", "Infinity", "-Infinity"})
MODULE_COLUMNS = (
    Column("ID", lambda m: m["id"]),
    Column("NAMESPACE", lambda m: m["namespace"]),
    Column("NAME", lambda m: m["name"]),
    Column("DEFAULT", lambda m: m["default_function"]),
    Column("FUNCTIONS", lambda m: m["function_count"]),
    Column("SIZE", lambda m: size(m["size"])),
    Column("REVISION", lambda m: m["revision"]),
    Column("UPDATED", lambda m: m["updated_at"]),
    Column("DIGEST", lambda m: m["digest"], wide=True),
    Column("CREATED", lambda m: m["created_at"], wide=True),
)
"""What ``wess ls`` shows; an admin sees every namespace, so the namespace is a column."""


def document_of(module: Module) -> dict[str, Any]:
    document: dict[str, Any] = {
        key: getattr(module, key)
        for key in (
            "id",
            "name",
            "namespace",
            "digest",
            "size",
            "revision",
            "created_at",
            "updated_at",
            "default_function",
            "function_count",
        )
    }
    if module.functions is not None:
        document["functions"] = [
            {"name": f.name, "params": list(f.params), "results": list(f.results)}
            for f in module.functions
        ]
    return document


@app.command()
def deploy(
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            metavar="FILE...",
            help=".wasm files, or one Python module (.py) with --wit.",
        ),
    ],
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="Module name (one file only).")
    ] = None,
    function: Annotated[
        str | None, typer.Option(metavar="FUNCTION", help="Default function.")
    ] = None,
    wit: Annotated[
        Path | None,
        typer.Option(
            "--wit",
            exists=True,
            readable=True,
            metavar="WIT",
            help="For a .py file: the WIT world (file or directory) it implements; "
            "componentize-py builds the component (pip install 'wess[python]').",
        ),
    ] = None,
    world: Annotated[
        str | None,
        typer.Option("--world", metavar="WORLD", help="For a .py file: the world in --wit."),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Upload .wasm files; prints each new module's id (with its file, for several). A
    Python module is built into a component first; its id is printed, then its
    functions with their WIT types."""
    if name is not None and len(files) > 1:
        raise typer.BadParameter("--name names one module; leave it out for several files")
    if any(path.suffix == ".py" for path in files):
        deploy_python(
            files, wit=wit, world=world, name=name, function=function, url=url, key=key, ca=ca
        )
        return
    if wit is not None or world is not None:
        raise typer.BadParameter("--wit and --world are for a Python module (.py)")
    total = sum(path.stat().st_size for path in files)
    with connect(url, key, ca) as client:
        if len(files) == 1:
            module = client.deploy(files[0].read_bytes(), name=name, function=function)
            typer.echo(module.id)
            return
        with Meter("deploying", console=err, unit="files", total_bytes=total, every=10) as meter:
            sent = 0
            for number, path in enumerate(files, start=1):
                module = client.deploy(path.read_bytes(), name=path.stem, function=function)
                typer.echo(f"{module.id}  {path}")
                sent += path.stat().st_size
                meter.update(number, sent)


def deploy_python(
    files: list[Path],
    *,
    wit: Path | None,
    world: str | None,
    name: str | None,
    function: str | None,
    url: str,
    key: str | None,
    ca: Path | None,
) -> None:
    """Build one Python module into a component and upload it (compiling an 18 MB
    component takes seconds: the upload waits for it without a time limit)."""
    if len(files) != 1:
        raise typer.BadParameter("deploy one Python module (.py) at a time")
    if wit is None:
        raise typer.BadParameter("a Python module needs --wit: the WIT world it implements")
    source = files[0]
    with failures():
        component = build_python_component(source, wit=wit, world=world)
    with connect(url, key, ca) as client:
        module = client.deploy(component, name=name or source.stem, function=function, timeout=None)
    typer.echo(module.id)
    for described in module.functions or ():
        typer.echo(f"  {described.describe()}")


@app.command(context_settings={"ignore_unknown_options": True})
def invoke(
    module_id: Annotated[str, typer.Argument(metavar="ID", help="Module id.")],
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[FUNCTION] [ARGS]...",
            help="The function (default: the module's), then its arguments: JSON numbers "
            "(negative ones too: -1) or NaN, Infinity, -Infinity.",
        ),
    ] = None,
    json_args: Annotated[
        str | None,
        typer.Option(
            "--json-args",
            metavar="JSON",
            help="The arguments as one JSON array: '[1, -2.5]'; a component's function "
            "takes any JSON values: '[\"Ada\"]'.",
        ),
    ] = None,
    timeout_ms: Annotated[
        int | None,
        typer.Option("--timeout-ms", metavar="MS", min=1, help="Lower the call's time limit."),
    ] = None,
    fuel: Annotated[
        int | None,
        typer.Option(metavar="N", min=0, help="Lower the call's instruction budget."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", metavar="json", help="json: the whole answer (fuel used, time)."
        ),
    ] = None,
    logs: Annotated[
        bool,
        typer.Option("--logs", help="Print the call's log lines (wess:log@1) to stderr."),
    ] = False,
    stdin: Annotated[
        str | None,
        typer.Option(
            "--stdin",
            metavar="FILE",
            help="Run a WASI command with this file as its stdin ('-': this program's).",
        ),
    ] = None,
    argv: Annotated[
        list[str] | None,
        typer.Option("--arg", metavar="ARG", help="A command's argument (repeat; argv[0] first)."),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", metavar="NAME=VALUE", help="A command's environment variable."),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Run a function: prints what it wrote to stdout, then its results as one JSON line
    ([3]); what it wrote to stderr goes to stderr. A WASI command (--stdin, --arg,
    --env, or a module exporting _start) prints its output and exits with its status."""
    function, args = split_invocation(words or [])
    if json_args is not None:
        if args:
            raise typer.BadParameter("give the arguments as words or as --json-args, not both")
        args = parse_json_args(json_args)
    if output not in (None, "json"):
        raise typer.BadParameter(f"{output!r}: only json", param_hint="--output")
    command = stdin is not None or bool(argv) or bool(env)
    if command and (function is not None or args):
        raise typer.BadParameter("a command takes --stdin/--arg/--env, not a function or args")
    with connect(url, key, ca) as client:
        if command:
            outcome = client.run_command(
                module_id,
                read_stdin(stdin),
                argv=argv or None,
                env=parse_env(env or []),
                timeout_ms=timeout_ms,
                fuel=fuel,
                logs=logs,
            )
        else:
            outcome = client.run(
                module_id, function, args, timeout_ms=timeout_ms, fuel=fuel, logs=logs
            )
    if output == "json":
        typer.echo(json.dumps(run_document(outcome), indent=2))
        return
    print_outcome(outcome)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def read_stdin(path: str | None) -> bytes:
    """A command's stdin: the file at ``path``, this program's stdin for ``-``."""
    if path is None:
        return b""
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise typer.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint="--env")
        env[name] = value
    return env


def run_document(outcome: RunResult) -> dict[str, Any]:
    document = {
        "results": outcome.results,
        "function": outcome.function,
        "duration_us": outcome.duration_us,
        "fuel_used": outcome.fuel_used,
        "stdout": outcome.stdout,
        "stderr": outcome.stderr,
        "output_truncated": outcome.output_truncated,
    }
    if outcome.exit_code is not None:
        document["exit_code"] = outcome.exit_code
    if outcome.logs or outcome.logs_dropped:
        document["logs"] = outcome.logs
        document["logs_dropped"] = outcome.logs_dropped
    return document


def print_outcome(outcome: RunResult) -> None:
    """A run's answer as a terminal shows a program's: its output, then its results."""
    for text, to_err in ((outcome.stdout, False), (outcome.stderr, True)):
        if text:
            typer.echo(text, err=to_err, nl=not text.endswith("\n"))
    if outcome.output_truncated:
        typer.echo("wess: the output was cut at the server's capture limit", err=True)
    for line in outcome.logs:
        typer.echo(f"[{line.get('level', '?')}] {line.get('message', '')}", err=True)
    if outcome.logs_dropped:
        typer.echo(f"wess: {outcome.logs_dropped} more log line(s) dropped", err=True)
    if outcome.exit_code is None:
        typer.echo(json.dumps(outcome.results))


@app.command("ls")
def list_modules(
    output: OutputOption = Output.TABLE,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """List stored modules (an admin's key: every namespace's)."""
    with connect(url, key, ca) as client:
        modules = [document_of(module) for module in client.modules()]
    emit(modules, MODULE_COLUMNS, output)


@app.command()
def get(
    module_id: Annotated[str, typer.Argument(metavar="ID", help="Module id.")],
    output: OutputOption = Output.TABLE,
    wasm: Annotated[
        Path | None,
        typer.Option("--wasm", metavar="FILE", help="Also save the module's bytes to FILE."),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Show a module: its metadata and every function it exports."""
    with connect(url, key, ca) as client:
        module = client.get(module_id)
        if wasm is not None:
            wasm.write_bytes(client.download(module_id))
    document = document_of(module)
    if output is Output.JSON:
        emit_document(document, output)
        return
    functions = module.functions or ()
    document["functions"] = ", ".join(f.describe() for f in functions) or "-"
    emit_document(document, output)


@app.command()
def update(
    module_id: Annotated[str, typer.Argument(metavar="ID", help="Module id.")],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, metavar="FILE")
    ],
    name: Annotated[str | None, typer.Option(metavar="NAME", help="New name.")] = None,
    function: Annotated[
        str | None, typer.Option(metavar="FUNCTION", help="New default function.")
    ] = None,
    if_match: Annotated[
        str | None,
        typer.Option(
            "--if-match",
            metavar="DIGEST",
            help="Only if the module still has this digest (sha256:...).",
        ),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Replace a module's bytes; prints its new revision and digest."""
    with connect(url, key, ca) as client:
        module = client.update(
            module_id, file.read_bytes(), name=name, function=function, if_match=if_match
        )
    typer.echo(f"{module.id} revision {module.revision} {module.digest}")


@app.command("rm")
def remove(
    module_id: Annotated[str, typer.Argument(metavar="ID", help="Module id.")],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Delete a module."""
    with connect(url, key, ca) as client:
        client.delete(module_id)
    typer.echo(f"deleted {module_id}")


def split_invocation(words: list[str]) -> tuple[str | None, list[Any]]:
    """``[FUNCTION] ARGS...``: the first word is a function name unless it is a number."""
    if words and not _is_number(words[0]):
        function, rest = words[0], words[1:]
    else:
        function, rest = None, words
    args: list[Any] = []
    for word in rest:
        if not _is_number(word):
            raise typer.BadParameter(f"{word!r} is not a number (or NaN/Infinity/-Infinity)")
        args.append(word if word in SPECIAL_NUMBERS else json.loads(word))
    return function, args


def parse_json_args(text: str) -> list[Any]:
    """``--json-args``: a JSON array of numbers (NaN/Infinity/-Infinity as strings)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--json-args") from None
    if not isinstance(value, list):
        raise typer.BadParameter("give a JSON array, e.g. '[1, 2]'", param_hint="--json-args")
    return value


def _is_number(word: str) -> bool:
    if word in SPECIAL_NUMBERS:
        return True
    try:
        value = json.loads(word)
    except ValueError:
        return False
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (not isinstance(value, float) or math.isfinite(value))
    )
