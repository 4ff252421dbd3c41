"""``wess keys``: API keys over HTTP (admin), and key-encryption keys."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import typer

from wess.cli.common import DEFAULT_URL, CaOption, KeyOption, UrlOption, connect
from wess.cli.output import Column, Output, OutputOption, emit
from wess.models import Role
from wess.security.crypto import generate_kek

app = typer.Typer(
    help="Manage API keys and key-encryption keys.", no_args_is_help=True, rich_markup_mode=None
)

KEY_COLUMNS = (
    Column("ID", lambda k: k["id"]),
    Column("NAMESPACE", lambda k: k["namespace"]),
    Column("ROLE", lambda k: k["role"]),
    Column("NAME", lambda k: k["name"] or "-"),
    Column("EXPIRES", lambda k: k["expires_at"]),
    Column("LAST USED", lambda k: k["last_used_at"]),
    Column("CREATED", lambda k: k["created_at"], wide=True),
)


@app.command("create")
def create(
    namespace: Annotated[str, typer.Option(metavar="NAMESPACE", help="Namespace the key acts in.")],
    role: Annotated[
        Role,
        typer.Option(metavar="admin|developer|invoker|viewer", help="What the key may do."),
    ],
    name: Annotated[
        str, typer.Option(metavar="LABEL", help="A label for people, e.g. ci-deploy.")
    ] = "",
    expires: Annotated[
        datetime | None,
        typer.Option(
            metavar="TIME",
            help="Expiry, ISO 8601 with an offset, e.g. 2027-01-01T00:00:00+00:00.",
        ),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Create a key; prints its token, which is shown this once only."""
    if expires is not None and expires.tzinfo is None:
        raise typer.BadParameter("--expires needs a UTC offset, e.g. +00:00")
    with connect(url, key, ca) as client:
        issued = client.create_key(
            namespace=namespace,
            role=role.value,
            name=name,
            expires_at=expires.isoformat() if expires else None,
        )
    typer.echo(issued.token)


@app.command("list")
def list_keys(
    output: OutputOption = Output.TABLE,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """List keys (never their tokens)."""
    with connect(url, key, ca) as client:
        listed = [asdict(item) for item in client.keys()]  # noqa: SIM118 - a method
    for item in listed:
        del item["token"]
    emit(listed, KEY_COLUMNS, output)


@app.command("revoke")
def revoke(
    key_id: Annotated[
        str,
        typer.Argument(metavar="KEY_ID", help="The key's id as listed, or a unique prefix of it."),
    ],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Revoke a key: refused from the next request on."""
    with connect(url, key, ca) as client:
        full = client.key_id(key_id)
        client.revoke_key(full)
    typer.echo(f"revoked {full}")


@app.command("generate-kek")
def generate() -> None:
    """Print a new key-encryption key (save it to a 0600 file for
    security.encryption_key_file)."""
    print(generate_kek(), end="")


@app.command("rotate-kek")
def rotate(url: UrlOption = DEFAULT_URL, key: KeyOption = None, ca: CaOption = None) -> None:
    """Replace the server's key-encryption key and re-wrap every data key, online."""
    with connect(url, key, ca) as client:
        result = client.rotate_kek()
    typer.echo(
        f"new key-encryption key {result['kek_id']}; {result['rewrapped']} values re-wrapped"
    )
