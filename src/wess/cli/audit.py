"""``wess audit``: read the audit log, and check its keyed chain and its anchor."""

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
from wess.cli.output import Column, Output, OutputOption, emit

app = typer.Typer(help="The audit log.", no_args_is_help=True, rich_markup_mode=None)

ENTRY_COLUMNS = (
    Column("SEQ", lambda e: e["seq"]),
    Column("TIME", lambda e: e["time"]),
    Column("ACTOR", lambda e: e["actor"]),
    Column("ACTION", lambda e: e["action"]),
    Column("TARGET", lambda e: e["target"]),
    Column("OUTCOME", lambda e: e["outcome"]),
    Column("COUNT", lambda e: e["count"], wide=True),
    Column("NAMESPACE", lambda e: e["namespace"], wide=True),
    Column("CLIENT", lambda e: e["client_ip"], wide=True),
    Column("REQUEST", lambda e: e["request_id"], wide=True),
)
PAGE = 1000


@app.command("log")
def read_log(
    after: Annotated[
        int, typer.Option(metavar="SEQ", min=0, help="Entries after this sequence number.")
    ] = 0,
    limit: Annotated[
        int, typer.Option(metavar="N", min=1, help="At most this many entries.")
    ] = 100,
    actor: Annotated[
        str | None,
        typer.Option(metavar="ACTOR", help="Only this actor (api_key:ID, jwt:SUBJECT ...)."),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(metavar="ACTION", help="Only this action (module.create, store.import ...)."),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option(metavar="NAMESPACE", help="Only this namespace.")
    ] = None,
    outcome: Annotated[
        str | None, typer.Option(metavar="OUTCOME", help="Only this outcome (ok, or a code).")
    ] = None,
    output: OutputOption = Output.TABLE,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """List audit entries in order, oldest first (filters combine)."""
    wanted = {
        name: value
        for name, value in (
            ("actor", actor),
            ("action", action),
            ("namespace", namespace),
            ("outcome", outcome),
        )
        if value
    }
    entries: list[dict[str, Any]] = []
    cursor = after
    with connect(url, key, ca) as client:
        while len(entries) < limit:
            page = client.audit(after=cursor, limit=min(PAGE, limit - len(entries)), **wanted)
            entries += page["items"]
            if page["next_cursor"] is None:
                break
            cursor = int(page["next_cursor"])
    emit(entries, ENTRY_COLUMNS, output)


@app.command("verify")
def verify_chain(
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Check every entry's MAC and link, and that the chain reaches its anchor; print the
    head it verified (compare it with a copy kept elsewhere). Exit 1 if broken."""
    if data_dir is None:
        with connect(url, key, ca) as client:
            report = client.verify_audit()
    elif not data_dir.is_dir():
        raise typer.BadParameter(f"{data_dir} is not a directory", param_hint="--data-dir")
    else:
        with failures():
            report = asyncio.run(_verify_offline(config, data_dir))
    head = report["head"]
    where = "no entries" if head is None else f"head: entry {head['seq']}, hash {head['hash']}"
    if report["ok"]:
        typer.echo(f"audit log intact: {report['checked']} entries; {where}")
        return
    err.print(
        f"audit log broken at entry {report['broken_at']} ({report['reason']}); "
        f"{report['checked']} entries before it verify; {where}"
    )
    raise typer.Exit(1)


async def _verify_offline(config: Path | None, data_dir: Path) -> dict[str, Any]:
    from wess.api.admin import verification_document
    from wess.auditing import AuditTrail
    from wess.security.audit import AUDIT_KEY_LABEL, AuditKey
    from wess.server.parts import anchor_file, keyring_of, server_secret
    from wess.storage import open_store

    chosen = settings(config, {"database.path": data_dir})
    audit_key = AuditKey(server_secret(chosen).derive(AUDIT_KEY_LABEL))
    async with open_store(chosen.database.effective_url, keyring=keyring_of(chosen)) as store:
        trail = AuditTrail(store.audit, key=audit_key, anchors=anchor_file(chosen, audit_key))
        return verification_document(await trail.verify())
