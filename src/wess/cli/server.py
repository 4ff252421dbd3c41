"""``wess serve`` and ``wess config``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from wess.cli.common import ConfigOption, loaded, out, settings
from wess.config import effective_items, reference_markdown
from wess.errors import WessError

app = typer.Typer()
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Directory of the RocksDB store.")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Certificate chain (PEM): HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Private key (PEM) of --tls-cert.")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the Wess server."""
    from wess.observability.logging import configure_logging
    from wess.server import run_server

    chosen = settings(
        config,
        {
            "server.host": host,
            "server.port": port,
            "database.path": data_dir,
            "tls.cert_file": tls_cert,
            "tls.key_file": tls_key,
        },
    )
    configure_logging(level=chosen.logging.level, format=chosen.logging.format)
    try:
        run_server(chosen)
    except WessError as exc:  # logged already; this is the sentence for whoever started it
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective configuration and where each value came from."""
    result = loaded(config, {})
    table = Table("key", "value", "source")
    for key, value in effective_items(result.settings):
        table.add_row(key, json.dumps(value), result.sources[key])
    out.print(table)


@config_app.command("reference")
def config_reference() -> None:
    """Print every configuration key as Markdown (as in docs/configuration.md)."""
    print(reference_markdown())
