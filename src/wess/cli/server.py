"""``wess serve`` and ``wess config``."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from wess.cli.common import ConfigOption, err, loaded, out, settings
from wess.config import effective_items
from wess.config.live import SettingsSource
from wess.errors import WessError

app = typer.Typer()
config_app = typer.Typer(
    help="Inspect the configuration.", no_args_is_help=True, rich_markup_mode=None
)

SERVE_FLAGS = {
    "host": "server.host",
    "port": "server.port",
    "data_dir": "database.path",
    "tls_cert": "tls.cert_file",
    "tls_key": "tls.key_file",
    "workers": "server.workers",
}
"""Each ``wess serve`` option that sets a configuration key, and the key it sets."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(metavar="PORT", help="Port to bind.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Directory of the RocksDB store.")
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Certificate chain (PEM): HTTPS.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Private key (PEM) of --tls-cert.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Server processes on the port (default: one per core with PostgreSQL, "
            "one with the embedded store).",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run the Wess server."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload, never a stop: even starting
    from wess.server import run

    given = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "workers": workers,
    }
    flags = {SERVE_FLAGS[name]: value for name, value in given.items() if value is not None}
    chosen = settings(config, flags)
    try:
        run(chosen, source=SettingsSource.of(config, flags))
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
def config_reference(
    write: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Rewrite the generated parts of this file (docs/configuration.md)."
        ),
    ] = None,
) -> None:
    """Print the generated parts of docs/configuration.md: sections, flags, keys, limits."""
    from wess.cli.docs import configuration_parts, render

    if write is None:
        print("\n".join(configuration_parts().values()))
        return
    try:
        text = render(write.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        err.print(f"error: {write}: {exc}")
        raise typer.Exit(1) from None
    write.write_text(text, encoding="utf-8")
