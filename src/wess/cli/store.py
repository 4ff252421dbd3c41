"""``wess migrate``: commands that work on a stopped server's store directly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

import typer

from wess.cli.common import ConfigOption, err, settings

app = typer.Typer()

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The data directory (default: database.path)."),
]


def store_path(config: Path | None, data_dir: Path | None) -> Path:
    """The RocksDB directory these settings name; exits with a sentence for any other."""
    chosen = settings(config, {"database.path": data_dir})
    url = urlsplit(chosen.database.effective_url)
    if url.scheme != "rocksdb":
        err.print(f"error: {url.geturl()} is not an embedded RocksDB store; nothing to do here")
        raise typer.Exit(2)
    path = Path(unquote(url.path))
    if not path.is_dir():
        err.print(f"error: {path} is not a directory: no store there")
        raise typer.Exit(2)
    return path


@app.command()
def migrate(
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the steps; change nothing.")
    ] = False,
) -> None:
    """Bring a store written by an earlier Wess to this version's format (the server
    stopped; back the directory up first). Safe to run again after a crash."""
    from wess.errors import WessError
    from wess.storage.rocks.layout import FORMAT
    from wess.storage.rocks.migrations import migrate as run

    path = store_path(config, data_dir)
    try:
        found, steps, applied = run(str(path), dry_run=dry_run)
    except WessError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    current = FORMAT.decode()
    if not steps:
        typer.echo(f"{path}: format {current}, nothing to migrate")
        return
    was = (found or b"").decode(errors="replace")
    typer.echo(f"{path}: format {was} -> {current}, {len(steps)} step(s):")
    for step in steps:
        typer.echo(f"  {step.source.decode()} -> {step.target.decode()}: {step.summary}")
    if dry_run:
        typer.echo("dry run: nothing changed")
        return
    moved = sum(done.records for done in applied)
    typer.echo(f"migrated: {moved} records moved; the store is in format {current}")
