"""``wess keys``: API keys over HTTP (admin), and key-encryption keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from wess.cli.common import DEFAULT_URL, CaOption, Client, KeyOption, UrlOption, out
from wess.models import Role
from wess.security.crypto import generate_kek

app = typer.Typer(help="Manage API keys and key-encryption keys.", no_args_is_help=True)


@app.command("create")
def create(
    namespace: Annotated[str, typer.Option(help="Namespace the key acts in.")],
    role: Annotated[Role, typer.Option(help="admin, developer, invoker or viewer.")],
    name: Annotated[str, typer.Option(help="A label for people, e.g. ci-deploy.")] = "",
    expires: Annotated[
        datetime | None,
        typer.Option(help="Expiry, ISO 8601 with an offset, e.g. 2027-01-01T00:00:00+00:00."),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    ca: CaOption = None,
) -> None:
    """Create a key; prints its token, which is shown this once only."""
    if expires is not None and expires.tzinfo is None:
        raise typer.BadParameter("--expires needs a UTC offset, e.g. +00:00")
    body = {
        "namespace": namespace,
        "role": role.value,
        "name": name,
        "expires_at": expires.isoformat() if expires else None,
    }
    issued = Client(url, key, ca).call("POST", "/v1/keys", json=body)
    out.print(issued["token"], soft_wrap=True)


@app.command("list")
def list_keys(url: UrlOption = DEFAULT_URL, key: KeyOption = None, ca: CaOption = None) -> None:
    """List keys (never their tokens)."""
    table = Table("id", "namespace", "role", "name", "expires", "last used")
    for item in Client(url, key, ca).call("GET", "/v1/keys")["items"]:
        table.add_row(
            item["id"],
            item["namespace"],
            item["role"],
            item["name"],
            item["expires_at"] or "-",
            item["last_used_at"] or "-",
        )
    out.print(table)


@app.command("revoke")
def revoke(
    key_id: str, url: UrlOption = DEFAULT_URL, key: KeyOption = None, ca: CaOption = None
) -> None:
    """Revoke a key: refused from the next request on."""
    Client(url, key, ca).call("DELETE", f"/v1/keys/{key_id}")
    out.print(f"revoked {key_id}")


@app.command("generate-kek")
def generate() -> None:
    """Print a new key-encryption key (save it to a 0600 file for
    security.encryption_key_file)."""
    print(generate_kek(), end="")


@app.command("rotate-kek")
def rotate(url: UrlOption = DEFAULT_URL, key: KeyOption = None, ca: CaOption = None) -> None:
    """Replace the server's key-encryption key and re-wrap every data key, online."""
    result = Client(url, key, ca).call("POST", "/v1/admin/rotate-kek")
    out.print(f"new key-encryption key {result['kek_id']}; {result['rewrapped']} values re-wrapped")
