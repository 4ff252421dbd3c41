"""The ``wess`` command: run the server, and talk to one over HTTP."""

from __future__ import annotations

import typer

from wess.cli import audit, keys, modules, server, store
from wess.cli.modules import split_invocation

app = typer.Typer(
    help="Wess, the WebAssembly Service System.", no_args_is_help=True, add_completion=False
)
for group in (server.app, modules.app, store.app):
    app.registered_commands += group.registered_commands
app.add_typer(server.config_app, name="config")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")

__all__ = ["app", "main", "split_invocation"]


def main() -> None:
    app(prog_name="wess")
