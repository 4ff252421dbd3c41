"""``wess audit verify``: check the audit log's keyed chain and its anchor."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from wess.cli.common import (
    DEFAULT_URL,
    CaOption,
    Client,
    ConfigOption,
    KeyOption,
    UrlOption,
    err,
    settings,
)

app = typer.Typer(help="The audit log.", no_args_is_help=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Verify the store in this data directory, offline (the server stopped), "
        "instead of asking a running server.",
    ),
]


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
        report = Client(url, key, ca).call("GET", "/v1/audit/verify")
    elif not data_dir.is_dir():
        raise typer.BadParameter(f"{data_dir} is not a directory", param_hint="--data-dir")
    else:
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
    from wess.server.state import anchor_file, keyring_of, server_secret
    from wess.storage import open_store

    chosen = settings(config, {"database.path": data_dir})
    audit_key = AuditKey(server_secret(chosen).derive(AUDIT_KEY_LABEL))
    async with open_store(chosen.database.effective_url, keyring=keyring_of(chosen)) as store:
        trail = AuditTrail(store.audit, key=audit_key, anchors=anchor_file(chosen, audit_key))
        return verification_document(await trail.verify())
