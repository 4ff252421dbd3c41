"""The ``wess`` command: run the server, and talk to one over HTTP."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from wess.config import effective_items, load_settings, reference_markdown
from wess.errors import ConfigError

app = typer.Typer(
    help="Wess, the WebAssembly Service System.", no_args_is_help=True, add_completion=False
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

DEFAULT_URL = "http://127.0.0.1:8080"
UrlOption = Annotated[
    str, typer.Option("--url", envvar="WESS_URL", help="Base URL of the Wess server.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Config file (default: $WESS_CONFIG, else ./wess.toml if present)."
    ),
]

out = Console()
err = Console(stderr=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Directory of the RocksDB store.")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the Wess server."""
    from wess.observability.logging import configure_logging
    from wess.server import run_server

    settings = _settings(
        config, {"server.host": host, "server.port": port, "database.path": data_dir}
    )
    configure_logging(level=settings.logging.level, format=settings.logging.format)
    raise typer.Exit(run_server(settings))


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective configuration and where each value came from."""
    loaded = _loaded(config, {})
    table = Table("key", "value", "source")
    for key, value in effective_items(loaded.settings):
        table.add_row(key, json.dumps(value), loaded.sources[key])
    out.print(table)


@config_app.command("reference")
def config_reference() -> None:
    """Print every configuration key as Markdown (as in docs/configuration.md)."""
    print(reference_markdown())


@app.command()
def deploy(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    name: Annotated[str | None, typer.Option(help="Module name.")] = None,
    function: Annotated[str | None, typer.Option(help="Default function.")] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Upload a .wasm file; prints the new module's id."""
    params = {k: v for k, v in {"name": name, "function": function}.items() if v}
    document = _call(
        "POST",
        url,
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
) -> None:
    """Run a function; prints its results as JSON."""
    function, args = split_invocation(words or [])
    body: dict[str, Any] = {"args": args}
    if function is not None:
        body["function"] = function
    document = _call("POST", url, f"/v1/modules/{module_id}/run", json=body)
    out.print_json(data=document["results"])


@app.command("ls")
def list_modules(url: UrlOption = DEFAULT_URL) -> None:
    """List stored modules."""
    table = Table("id", "name", "functions", "size", "revision", "updated")
    cursor: str | None = None
    while True:
        params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = _call("GET", url, "/v1/modules", params=params)
        for item in page["items"]:
            functions = ", ".join(f["name"] for f in item["functions"])
            table.add_row(
                item["id"],
                item["name"],
                functions,
                str(item["size"]),
                str(item["revision"]),
                item["updated_at"],
            )
        cursor = page["next_cursor"]
        if not cursor:
            break
    out.print(table)


@app.command("rm")
def remove(module_id: str, url: UrlOption = DEFAULT_URL) -> None:
    """Delete a module."""
    _call("DELETE", url, f"/v1/modules/{module_id}")
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


def _call(method: str, url: str, path: str, **kwargs: Any) -> Any:
    try:
        response = httpx.request(method, url.rstrip("/") + path, timeout=60.0, **kwargs)
    except httpx.HTTPError as exc:
        err.print(f"error: cannot reach Wess at {url}: {exc}")
        raise typer.Exit(1) from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        err.print(f"error: {response.status_code} {detail}")
        raise typer.Exit(1)
    return response.json() if response.content else None


def _loaded(config: Path | None, flags: dict[str, Any]) -> Any:
    try:
        return load_settings(config_file=config, flags=flags)
    except ConfigError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None


def _settings(config: Path | None, flags: dict[str, Any]) -> Any:
    return _loaded(config, flags).settings


def main() -> None:
    app(prog_name="wess")


if __name__ == "__main__":  # pragma: no cover
    main()
