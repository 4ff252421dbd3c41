"""Client commands for modules: deploy, invoke, ls, rm."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from wess.cli.common import DEFAULT_URL, CaOption, Client, KeyOption, UrlOption, out

app = typer.Typer()


@app.command()
def deploy(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    name: Annotated[str | None, typer.Option(help="Module name.")] = None,
    function: Annotated[str | None, typer.Option(help="Default function.")] = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Upload a .wasm file; prints the new module's id."""
    params = {k: v for k, v in {"name": name, "function": function}.items() if v}
    document = Client(url, key, ca).call(
        "POST",
        "/v1/modules",
        content=file.read_bytes(),
        params=params,
        headers={"content-type": "application/wasm"},
    )
    out.print(document["id"])


@app.command()
def invoke(
    module_id: Annotated[str, typer.Argument(help="Module id.")],
    words: Annotated[
        list[str] | None,
        typer.Argument(
            help="[FUNCTION] ARGS...: arguments are JSON numbers or NaN/Infinity/-Infinity."
        ),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Run a function: prints what it wrote to stdout, then its results as one JSON line
    (``[3]``); what it wrote to stderr goes to stderr."""
    function, args = split_invocation(words or [])
    body: dict[str, Any] = {"args": args}
    if function is not None:
        body["function"] = function
    document = Client(url, key, ca).call("POST", f"/v1/modules/{module_id}/run", json=body)
    print_outcome(document)


def print_outcome(document: dict[str, Any]) -> None:
    """A run's answer as a terminal shows a program's: its output, then its results."""
    for stream, err in (("stdout", False), ("stderr", True)):
        text = document.get(stream) or ""
        if text:
            typer.echo(text, err=err, nl=not text.endswith("\n"))
    if document.get("output_truncated"):
        typer.echo("wess: the output was cut at the server's capture limit", err=True)
    typer.echo(json.dumps(document["results"]))


@app.command("ls")
def list_modules(url: UrlOption = DEFAULT_URL, key: KeyOption = None, ca: CaOption = None) -> None:
    """List stored modules."""
    table = Table("id", "name", "default", "functions", "size", "revision", "updated")
    cursor: str | None = None
    while True:
        params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = Client(url, key, ca).call("GET", "/v1/modules", params=params)
        for item in page["items"]:  # summaries: the catalogue is on each module's resource
            table.add_row(
                item["id"],
                item["name"],
                item["default_function"] or "",
                str(item["function_count"]),
                str(item["size"]),
                str(item["revision"]),
                item["updated_at"],
            )
        cursor = page["next_cursor"]
        if not cursor:
            break
    out.print(table)


@app.command("rm")
def remove(
    module_id: str, url: UrlOption = DEFAULT_URL, key: KeyOption = None, ca: CaOption = None
) -> None:
    """Delete a module."""
    Client(url, key, ca).call("DELETE", f"/v1/modules/{module_id}")
    out.print(f"deleted {module_id}")


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
        args.append(word if word in {"NaN", "Infinity", "-Infinity"} else json.loads(word))
    return function, args


def _is_number(word: str) -> bool:
    if word in {"NaN", "Infinity", "-Infinity"}:
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
