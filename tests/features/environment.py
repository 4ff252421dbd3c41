"""Behave: one real `wess serve` process (RocksDB in a temp dir) for the whole run."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support import ServerProcess  # noqa: E402


def before_all(context):
    context.workdir = Path(tempfile.mkdtemp(prefix="wess-behave-"))
    context.server = ServerProcess(
        data_dir=context.workdir / "data", log_path=context.workdir / "wess.log"
    ).start()
    context.url = context.server.url
    context.ids = {}  # at the root layer: scenarios pass ids on, as in the original suite


def after_all(context):
    status = context.server.stop()
    if status != 0:
        print(context.server.log())
    assert status == 0, f"wess exited with {status} on SIGTERM"
