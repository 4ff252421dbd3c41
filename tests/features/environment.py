"""Behave: real `wess serve` processes (RocksDB in temp dirs) for the whole run.

Two servers: the default one (authentication on; steps authenticate with keys), and
one bound to 127.0.0.1 with authentication off, where the original Wess clients'
steps run exactly as they were written (no Authorization header), in features
tagged @unauthenticated.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support import ServerProcess  # noqa: E402


def before_all(context):
    workdir = Path(tempfile.mkdtemp(prefix="wess-behave-"))
    context.secure = ServerProcess(
        data_dir=workdir / "secure" / "data", log_path=workdir / "secure.log"
    )
    context.open = ServerProcess(
        data_dir=workdir / "open" / "data",
        log_path=workdir / "open.log",
        env={"WESS_AUTH_ENABLED": "false"},
    )
    for server in (context.secure, context.open):
        server.data_dir.parent.mkdir(parents=True)
        server.start()
    context.ids = {}  # at the root layer: scenarios pass ids on, as in the original suite
    context.tokens = {}


def before_feature(context, feature):
    server = context.open if "unauthenticated" in feature.tags else context.secure
    context.server = server
    context.url = server.url
    context.http = requests.Session()
    if server is context.secure:
        context.http.headers["Authorization"] = f"Bearer {server.token}"


def after_all(context):
    for server in (context.secure, context.open):
        status = server.stop()
        if status != 0:
            print(server.log())
        assert status == 0, f"wess exited with {status} on SIGTERM"
