"""``wess backup create|list|verify|restore|prune``: verified checkpoints of a store.

``create`` asks a running server (the backup lands in its ``backup.dir``), or with
``--data-dir`` checkpoints a stopped server's store itself. The other commands work on
the backup directory's files (``--backup-dir``, default ``backup.dir`` of the
configuration), with or without a server; ``restore`` writes a new data directory for a
server to start from.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from wess.cli.common import (
    DEFAULT_URL,
    CaOption,
    ConfigOption,
    DataDirOption,
    KeyOption,
    UrlOption,
    connect,
    err,
    failures,
    settings,
)
from wess.cli.output import Column, Output, OutputOption, emit, emit_document, size
from wess.cli.progress import Meter

app = typer.Typer(
    help="Backups: verified checkpoints of the store.", no_args_is_help=True, rich_markup_mode=None
)

BackupDirOption = Annotated[
    Path | None,
    typer.Option(
        "--backup-dir", metavar="DIR", help="Where the backups are (default: backup.dir)."
    ),
]
BACKUP_COLUMNS = (
    Column("ID", lambda b: b["id"]),
    Column("CREATED", lambda b: b["created_at"]),
    Column("MODULES", lambda b: b["content"]["modules"]),
    Column("KEYS", lambda b: b["content"]["keys"]),
    Column("AUDIT", lambda b: b["content"]["audit"]),
    Column("SIZE", lambda b: size(b["size_bytes"])),
    Column("SECONDS", lambda b: b["duration_seconds"], wide=True),
    Column("WESS", lambda b: b["wess"], wide=True),
    Column("FORMAT", lambda b: b["store_format"], wide=True),
    Column("CHAIN", lambda b: b["audit_chain"], wide=True),
)


def _backups(config: Path | None, backup_dir: Path | None) -> Any:
    from wess.server.parts import backups_of

    chosen = settings(config, {})
    found = backups_of(chosen)
    if backup_dir is not None:
        found.directory = backup_dir
    return found


def _summary(manifest: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in manifest.items() if key != "files"}


@app.command("create")
def create(
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    output: OutputOption = Output.TABLE,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Take a backup: a checkpoint of the store (writes go on), read back whole, kept with
    its manifest. Online by default; --data-dir for a stopped server's store."""
    with Meter("backing up", console=err, unit="backups") as meter:
        if data_dir is None:
            with connect(url, key, ca) as client:
                manifest = client.create_backup()
        else:
            if not data_dir.is_dir():
                raise typer.BadParameter(f"{data_dir} is not a directory", param_hint="--data-dir")
            with failures():
                manifest = asyncio.run(_create_offline(config, data_dir))
        meter.update(1, manifest["size_bytes"])
    emit_document(_summary(manifest), output)


async def _create_offline(config: Path | None, data_dir: Path) -> dict[str, Any]:
    from wess.cli.offline import offline
    from wess.server.parts import backups_of

    chosen = settings(config, {"database.path": data_dir})
    async with offline(chosen) as session:
        backups = backups_of(chosen)
        manifest = await backups.create(session.store, secret_file=session.secret_file)
    return manifest.to_dict()


@app.command("list")
def list_backups(
    backup_dir: BackupDirOption = None,
    config: ConfigOption = None,
    output: OutputOption = Output.TABLE,
) -> None:
    """List the backups, oldest first."""
    backups = _backups(config, backup_dir)
    emit([_summary(m.to_dict()) for m in backups.list()], BACKUP_COLUMNS, output)


@app.command("verify")
def verify(
    name: Annotated[
        str, typer.Argument(metavar="BACKUP", help="A backup id, a unique prefix, or latest.")
    ],
    backup_dir: BackupDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Hash the backup's files and read its store again, every module against its digest
    and the audit chain; compare with the manifest. Exit 1 if anything differs."""
    backups = _backups(config, backup_dir)
    with failures(), Meter(f"verifying {name}", console=err, unit="backups") as meter:
        result = asyncio.run(backups.verify(backups.resolve(name)))
        meter.update(1)
    if result.ok:
        typer.echo(f"backup {result.manifest.id} intact")
        return
    for problem in result.problems:
        err.print(f"  {problem}")
    err.print(f"error: backup {result.manifest.id} does not match its manifest")
    raise typer.Exit(1)


@app.command("restore")
def restore(
    name: Annotated[
        str, typer.Argument(metavar="BACKUP", help="A backup id, a unique prefix, or latest.")
    ],
    into: Annotated[
        Path,
        typer.Option("--into", metavar="DIR", help="A new data directory to restore into."),
    ],
    backup_dir: BackupDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Restore a backup into a new data directory (verified first), with its server
    secret; the audit log records the restore and its anchor moves to it. Then start a
    server with --data-dir DIR."""
    from wess.cli.offline import local_actor
    from wess.ops.restore import restore as run
    from wess.server.parts import ANCHOR_FILE, keyring_of, secret_path

    backups = _backups(config, backup_dir)
    chosen = settings(config, {"database.path": into})
    anchors = chosen.audit.anchor_file or into / ANCHOR_FILE
    with failures(), Meter("restoring", console=err, unit="files") as meter:
        done = asyncio.run(
            run(
                backups,
                name,
                into=into,
                secret_file=secret_path(chosen),
                anchor_file=anchors,
                keyring=keyring_of(chosen),
                actor=local_actor(),
                progress=meter.update,
            )
        )
    before = done.previous_anchor
    moved = "" if before is None else f"; the anchor moved back from entry {before.seq}"
    typer.echo(
        f"restored {done.backup_id} into {into} (audit log up to entry {done.head.seq}{moved}); "
        f"start Wess with --data-dir {into}"
    )


@app.command("prune")
def prune(
    keep: Annotated[
        int | None,
        typer.Option(metavar="N", min=1, help="Backups to keep (default: backup.retention)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Name what would go; remove nothing.")
    ] = False,
    backup_dir: BackupDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Remove all but the newest backups, and any a crash left unfinished."""
    backups = _backups(config, backup_dir)
    kept = keep if keep is not None else settings(config, {}).backup.retention
    with failures():
        removed = backups.prune(keep=kept, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for backup_id in removed:
        typer.echo(f"{verb} {backup_id}")
    typer.echo(f"{len(removed)} {verb}")
