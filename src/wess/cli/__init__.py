"""The ``wess`` command: run the server, talk to one over HTTP, and look after its store.

Help and errors print as plain text (no boxes): an error is one line, whatever the
terminal's width. ``wess --version`` prints the version; ``--install-completion``
installs shell completion.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from wess import __version__
from wess.cli import audit, backup, keys, modules, server, store, transfer
from wess.cli.help import tidy
from wess.cli.modules import split_invocation

app = typer.Typer(
    help="Wess, the WebAssembly Service System.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
for group in (server.app, modules.app, transfer.app, store.app):
    app.registered_commands += group.registered_commands
app.add_typer(server.config_app, name="config")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(backup.app, name="backup")


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"wess {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Wess, the WebAssembly Service System."""


__all__ = ["app", "command", "main", "split_invocation"]


def command() -> Any:
    """The ``wess`` command as click runs it, its help labelled for people (``help``)."""
    return tidy(typer.main.get_command(app))


def main() -> None:
    command()(prog_name="wess")
