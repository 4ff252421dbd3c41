"""What every ``wess`` command shares: consoles, options, settings, the HTTP client."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from wess.config import LoadedSettings, Settings, load_settings
from wess.errors import ConfigError

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_KEY_FILE = Path("data/admin.key")

out = Console()
err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
"""Errors print exactly as written: a `[section]` is text, and a long line is not wrapped."""

UrlOption = Annotated[
    str, typer.Option("--url", envvar="WESS_URL", help="Base URL of the Wess server.")
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="WESS_API_KEY",
        show_default=False,
        help="API key or JWT (default: ./data/admin.key when it exists).",
    ),
]
CaOption = Annotated[
    Path | None,
    typer.Option("--ca", envvar="WESS_CA_FILE", help="CA file to verify an HTTPS server with."),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Config file (default: $WESS_CONFIG, else ./wess.toml if present)."
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


class Client:
    """Calls a Wess server; prints the problem's detail and exits 1 on an error."""

    def __init__(self, url: str, key: str | None, ca: Path | None = None) -> None:
        token = key if key else _default_token()
        self._url = url.rstrip("/")
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self._verify: bool | ssl.SSLContext = (
            ssl.create_default_context(cafile=str(ca)) if ca is not None else True
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self._headers, **kwargs.pop("headers", {})}
        try:
            response = httpx.request(
                method,
                self._url + path,
                headers=headers,
                timeout=60.0,
                verify=self._verify,
                **kwargs,
            )
        except httpx.HTTPError as exc:
            err.print(f"error: cannot reach Wess at {self._url}: {exc}")
            raise typer.Exit(1) from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            err.print(f"error: {response.status_code} {detail}")
            raise typer.Exit(1)
        return response.json() if response.content else None


def _default_token() -> str | None:
    try:
        return DEFAULT_KEY_FILE.read_text().strip() or None
    except OSError:
        return None
