"""The composition root: settings -> storage -> workers -> service -> app -> server.

Everything live is opened in dependency order (``state.open_state``) and closed in
reverse: the HTTP server stops accepting first, then the Writer drains its queue, then
the store closes (``serving``).
"""

from __future__ import annotations

from wess.server.parts import (
    isolated_compiler,
    runtime_config,
    runtime_limits,
    server_secret,
)
from wess.server.serving import run_server, serve
from wess.server.state import open_state
from wess.server.supervising import run

__all__ = [
    "isolated_compiler",
    "open_state",
    "run",
    "run_server",
    "runtime_config",
    "runtime_limits",
    "serve",
    "server_secret",
]
