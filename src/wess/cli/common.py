"""What every ``wess`` command shares: consoles, options, settings, the client, errors.

Commands talk to a server through ``wess.client`` (``connect``), which raises typed
errors; ``failures`` turns them into one line on standard error and an exit status:
1 for a refusal or a failure, 2 for a command line or configuration that cannot work.
An error line is printed as written, never wrapped or boxed, so a list in it stays on
its line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from wess.client import Client
from wess.config import LoadedSettings, Settings, load_settings
from wess.errors import ConfigError, Unauthenticated, WessError

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_KEY_FILE = Path("data/admin.key")
KEY_ENV = "WESS_API_KEY"

out = Console()
err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
"""Errors print exactly as written: a `[section]` is text, and a long line is not wrapped."""

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="WESS_URL", metavar="URL", help="Base URL of the Wess server."),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar=KEY_ENV,
        metavar="TOKEN",
        show_default=False,
        help="API key or JWT (default: ./data/admin.key when it exists).",
    ),
]
CaOption = Annotated[
    Path | None,
    typer.Option(
        "--ca",
        envvar="WESS_CA_FILE",
        metavar="FILE",
        help="CA file to verify an HTTPS server with.",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="Config file (default: $WESS_CONFIG, else ./wess.toml if present).",
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help="Work on this data directory offline (the server stopped) instead of asking "
        "a running server.",
    ),
]


def loaded(config: Path | None, flags: dict[str, Any]) -> LoadedSettings:
    try:
        return load_settings(config_file=config, flags=flags)
    except ConfigError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None


def settings(config: Path | None, flags: dict[str, Any]) -> Settings:
    return loaded(config, flags).settings


@dataclass(frozen=True, slots=True)
class Credentials:
    """The token a command found, and where (None: nowhere)."""

    token: str | None
    source: str | None


def credentials(key: str | None) -> Credentials:
    """``--key`` or ``$WESS_API_KEY`` (typer reads both into ``key``), else the admin key
    file a server writes on its first start, in ./data."""
    if key:
        return Credentials(key, f"--key or ${KEY_ENV}")
    try:
        token = DEFAULT_KEY_FILE.read_text().strip()
    except OSError:
        return Credentials(None, None)
    return Credentials(token or None, f"./{DEFAULT_KEY_FILE}" if token else None)


def no_key_message() -> str:
    return (
        f"no API key: looked in ${KEY_ENV}, --key and ./{DEFAULT_KEY_FILE}, and found none. "
        "A server writes an admin key to <data dir>/admin.key when it first starts; with "
        "it, `wess keys create --namespace NS --role ROLE` mints one for anyone else. "
        f"Then: export {KEY_ENV}=<token>"
    )


@contextlib.contextmanager
def connect(url: str, key: str | None, ca: Path | None) -> Iterator[Client]:
    """A client of the server at ``url``; a refusal ends the command with its line."""
    found = credentials(key)
    with failures(credentials=found), Client(url, token=found.token, ca_file=ca) as client:
        yield client


@contextlib.contextmanager
def failures(*, credentials: Credentials | None = None) -> Iterator[None]:
    """Turn a ``WessError`` into its line on standard error and exit status 1 (2 for a
    configuration that cannot work); nothing else is caught."""
    try:
        yield
    except Unauthenticated as exc:
        if credentials is not None and credentials.token is None:
            err.print(f"error: {no_key_message()}")
        else:
            where = f" (the key from {credentials.source})" if credentials else ""
            err.print(f"error: unauthenticated{where}: {exc.detail}")
        raise typer.Exit(1) from None
    except ConfigError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(2) from None
    except WessError as exc:
        err.print(f"error: {line_of(exc)}")
        raise typer.Exit(1) from None


def line_of(exc: WessError) -> str:
    """``exc`` as the one line a person reads: the server's status and detail."""
    status = exc.context.get("status")
    return f"{status} {exc.detail}" if isinstance(status, int) else exc.detail
