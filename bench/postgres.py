"""The PostgreSQL the shared-store figures (P8, P9) run on, one fresh schema each.

The server is ``WESS_BENCH_POSTGRES`` (default: the machine's, on 127.0.0.1:5432 with
trust auth). A figure that cannot reach it stops with a sentence saying so, and the
report shows that sentence as the reason it was not measured.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get("WESS_BENCH_POSTGRES", DEFAULT)


def require() -> str:
    """The server's URL; ``SystemExit`` with the reason when nothing answers there."""
    url = server_url()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    try:
        with socket.create_connection((host, port), timeout=2):
            return url
    except OSError as exc:
        raise SystemExit(
            f"PostgreSQL is not reachable on {host}:{port} ({exc.strerror or exc}); start it "
            "or point WESS_BENCH_POSTGRES at one"
        ) from None


@contextlib.contextmanager
def fresh_schema(prefix: str) -> Iterator[str]:
    """A store URL naming a new schema, dropped (with everything in it) afterwards."""
    import psycopg
    from psycopg import sql

    url = require()
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        yield f"{url}?schema={name}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
