"""A real `wess serve --config`: SIGHUP applies a new rate limit without a restart, a
broken file is refused while the server goes on serving, and /metrics counts both; the
file watch does the same on its own. (`--workers`: tests/e2e/test_workers.py sends the
supervisor SIGHUP, which every worker reloads on.)"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess, eventually
from wess.testing.scrape import Scrape

pytestmark = pytest.mark.e2e


def logged(server: ServerProcess, event: str, **fields: Any) -> list[dict[str, Any]]:
    """The JSON log lines of ``server`` for ``event`` with ``fields``."""
    found = []
    for line in server.log().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == event and all(entry.get(k) == v for k, v in fields.items()):
            found.append(entry)
    return found


def replace(path: Path, text: str) -> None:
    """Write ``path`` as editors do: a new file renamed over the old one."""
    fresh = path.with_suffix(".new")
    fresh.write_text(text)
    os.replace(fresh, path)


def statuses(client: httpx.Client, count: int) -> list[int]:
    return [client.get("/healthz").status_code for _ in range(count)]


def reloads(client: httpx.Client) -> tuple[float | None, float | None]:
    scrape = Scrape(client.get("/metrics").text)
    return (
        scrape.value("wess_config_reloads_total", result="success"),
        scrape.value("wess_config_reloads_total", result="failure"),
    )


def test_sighup_applies_a_new_rate_limit_and_refuses_a_broken_file(tmp_path: Path) -> None:
    """per_ip lowered to 3/minute by SIGHUP: the fourth request is refused, by the same
    process; a file changing a restart-only key says so; a broken file is refused and
    the server goes on serving under the limit it had; /metrics counts 2 reloads, 1
    refusal; SIGTERM still stops it with status 0."""
    config = tmp_path / "wess.toml"
    config.write_text('[ratelimit]\nper_ip = "1000/minute"\n')
    server = ServerProcess(
        data_dir=tmp_path / "data", log_path=tmp_path / "wess.log", env={"WESS_CONFIG": str(config)}
    ).start()
    assert server.process is not None
    pid = server.process.pid
    try:
        with server.client() as client:
            replace(config, '[ratelimit]\nper_ip = "3/minute"\n')
            server.process.send_signal(signal.SIGHUP)
            eventually(lambda: logged(server, "configuration reloaded"), "the reload")
            assert statuses(client, 4) == [200, 200, 200, 429]

            replace(config, '[ratelimit]\nper_ip = "1000/minute"\n[writer]\nmax_batch = 7\n')
            server.process.send_signal(signal.SIGHUP)
            eventually(lambda: len(logged(server, "configuration reloaded")) == 2, "reload 2")
            (restart,) = logged(server, "configuration changes need a restart: not applied")
            assert restart["keys"] == ["writer.max_batch"]
            assert statuses(client, 5) == [200] * 5

            replace(config, '[ratelimit\nper_ip = "1/minute"\n')
            server.process.send_signal(signal.SIGHUP)
            refused = "configuration reload refused: the running configuration stays"
            eventually(lambda: logged(server, refused), "the refusal")
            assert statuses(client, 5) == [200] * 5  # 1000/minute still
            assert reloads(client) == (2.0, 1.0)
        assert server.process.pid == pid  # the same process all along
        assert server.process.poll() is None
    finally:
        assert server.stop() == 0


def test_the_file_watch_reloads_a_changed_file(tmp_path: Path) -> None:
    """With server.watch_config, replacing the file is enough: the reload is logged as
    the watch's, and the new limit applies."""
    config = tmp_path / "wess.toml"
    config.write_text('[server]\nwatch_config = true\n[ratelimit]\nper_ip = "1000/minute"\n')
    server = ServerProcess(
        data_dir=tmp_path / "data", log_path=tmp_path / "wess.log", env={"WESS_CONFIG": str(config)}
    ).start()
    try:
        eventually(lambda: logged(server, "watching the configuration file"), "the watch")
        with server.client() as client:
            replace(config, '[server]\nwatch_config = true\n[ratelimit]\nper_ip = "2/minute"\n')
            eventually(
                lambda: logged(server, "configuration reloaded", trigger="file changed"),
                "the reload",
            )
            assert statuses(client, 3) == [200, 200, 429]
    finally:
        assert server.stop() == 0
