from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import ServerProcess


@pytest.fixture
def server_factory(tmp_path) -> Iterator:
    """Start real `wess serve` processes sharing one data dir; all are stopped at the end."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(
            data_dir=tmp_path / "data", log_path=tmp_path / "wess.log", env=env
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.kill()
