"""``wess migrate``, ``wess verify``, ``wess salvage``: commands on a store as a whole."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import typer

from wess.cli.common import CaOption, ConfigOption, KeyOption, connect, err, failures, settings
from wess.cli.progress import Meter

app = typer.Typer()

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", metavar="DIR", help="The data directory (default: database.path)."),
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

    chosen = settings(config, {"database.path": data_dir})
    if urlsplit(chosen.database.effective_url).scheme in ("postgresql", "postgres"):
        _migrate_postgres(chosen.database.effective_url, dry_run=dry_run)
        return
    path = store_path(config, data_dir)
    try:
        with Meter("migrating" if not dry_run else "planning", console=err, unit="steps"):
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


def _migrate_postgres(url: str, *, dry_run: bool) -> None:
    import psycopg

    from wess.errors import WessError
    from wess.storage.postgres import schema
    from wess.storage.postgres.database import split_url

    conninfo, name = split_url(url)
    try:
        with psycopg.connect(conninfo) as conn:
            found, pending = schema.migrate(conn, name, dry_run=dry_run)
    except (psycopg.Error, WessError) as exc:
        err.print(f"error: cannot migrate schema {name}: {exc}")
        raise typer.Exit(1) from None
    was = "none" if found is None else str(found)
    if not pending:
        typer.echo(f"schema {name}: version {schema.VERSION}, nothing to migrate")
        return
    typer.echo(f"schema {name}: version {was} -> {schema.VERSION}, {len(pending)} step(s):")
    for step in pending:
        typer.echo(f"  {step}")
    typer.echo("dry run: nothing changed" if dry_run else "migrated")


@app.command()
def verify(
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="Ask this running server instead (given here: $WESS_URL alone does not "
            "switch to it).",
        ),
    ] = None,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Read every stored record and list the damaged ones (exit 1 if any). Offline on a
    stopped server's data directory, or online with --url."""
    with failures(), Meter("verifying", console=err, unit="stores"):
        if url is not None:
            with connect(url, key, ca) as client:
                report = client.verify_store()
        else:
            path = store_path(config, data_dir)
            report = asyncio.run(_verify_offline(config, path))
    for kind in ("modules", "keys", "audit", "usage"):
        part = report[kind]
        typer.echo(f"{kind}: {part['checked']} read, {part['damaged']} damaged")
        for name in part["names"]:
            typer.echo(f"  damaged: {name}")
    if report["audit_chain"] is not None:
        typer.echo(f"audit chain: {report['audit_chain']}")
    skipped = report["skipped"]
    if skipped.get("skipped_ranges") or skipped.get("unreadable"):
        typer.echo(
            f"stepped over {skipped['skipped_ranges']} damaged range(s), "
            f"{skipped['unreadable']} unreadable record(s):"
        )
        for example in skipped["examples"]:
            typer.echo(f"  {example}")
    if report["ok"]:
        typer.echo("store intact")
        return
    err.print("store damaged: copy what is intact to a new store with `wess salvage`")
    raise typer.Exit(1)


@app.command()
def salvage(
    into: Annotated[
        Path,
        typer.Option(
            "--into", metavar="DIR", help="A new data directory to copy intact records into."
        ),
    ],
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Copy every intact record of a damaged store (the server stopped) into a new data
    directory, with the server secret, and report what could not be copied. A store too
    damaged to open (its write-ahead log or MANIFEST) is read from a repaired copy; the
    damaged directory itself is never changed."""
    from wess.storage.rocks.recovery import recovered

    path = store_path(config, data_dir)
    if into.exists() and any(into.iterdir()):
        err.print(f"error: {into} is not empty; salvage copies into a new directory")
        raise typer.Exit(2)
    into.parent.mkdir(parents=True, exist_ok=True)
    with (
        failures(),
        Meter("salvaging", console=err, unit="stores"),
        recovered(path, scratch=into.parent) as source,
    ):
        report = asyncio.run(_salvage(config, path, into, source=source.path))
    if source.how is not None:
        typer.echo(f"the store would not open as it was: read from a copy with {source.how}")
    for kind, count in report["copied"].items():
        typer.echo(f"copied {count} {kind}")
    for lost in report["lost"]:
        typer.echo(f"lost: {lost}")
    skipped = report["skipped"]
    if skipped.get("skipped_ranges"):
        typer.echo(f"stepped over {skipped['skipped_ranges']} damaged range(s):")
        for example in skipped["examples"]:
            typer.echo(f"  {example}")
    typer.echo(f"salvaged into {into}: start Wess with --data-dir {into}")


async def _verify_offline(config: Path | None, path: Path) -> dict[str, Any]:
    from wess.ops.inspection import verify_store
    from wess.security.audit import AUDIT_KEY_LABEL, AuditKey
    from wess.server.parts import keyring_of, server_secret
    from wess.storage import open_store

    chosen = settings(config, {"database.path": path})
    audit_key = AuditKey(server_secret(chosen).derive(AUDIT_KEY_LABEL))
    async with open_store(chosen.database.effective_url, keyring=keyring_of(chosen)) as store:
        return (await verify_store(store, audit_key=audit_key)).to_dict()


async def _salvage(config: Path | None, path: Path, into: Path, *, source: Path) -> dict[str, Any]:
    """Copy what is intact of the store read from ``source`` (``path`` itself, or a
    repaired copy of it) into ``into``, with the server secret kept beside ``path``."""
    from wess.files import make_private
    from wess.ops.salvage import salvage as copy_intact
    from wess.security.anchor import AnchorFile
    from wess.security.audit import AUDIT_KEY_LABEL, Anchor, AuditKey
    from wess.security.secrets import SECRET_FILE
    from wess.server.parts import ANCHOR_FILE, keyring_of, server_secret
    from wess.storage import open_store

    chosen = settings(config, {"database.path": path})
    secret = server_secret(chosen)
    keyring = keyring_of(chosen)
    make_private(into)
    source_secret = chosen.security.secret_file or path / SECRET_FILE
    if source_secret.parent == path:  # kept beside the data: the new store needs it too
        (into / SECRET_FILE).write_bytes(source_secret.read_bytes())
        (into / SECRET_FILE).chmod(0o600)
    async with (
        open_store(f"rocksdb:{source}", keyring=keyring) as damaged,
        open_store(f"rocksdb:{into}", keyring=keyring) as target,
    ):
        report = await copy_intact(damaged, target)
        head = await target.audit.head()
    if head is not None:  # the salvaged log's head, anchored anew
        key = AuditKey(secret.derive(AUDIT_KEY_LABEL))
        AnchorFile(into / ANCHOR_FILE, key).write(Anchor(head.seq, head.hash))
    return report.to_dict()
