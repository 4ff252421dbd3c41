"""The metrics a real server adds: requests in flight and open connections, read from
uvicorn's own count when scraped, and the size of the RocksDB directory."""

from __future__ import annotations

import pytest

from tests.support import ServerProcess
from wess.testing import Scrape

pytestmark = pytest.mark.e2e


def test_a_scrape_sees_itself_in_flight_on_one_open_connection(tmp_path) -> None:
    """With one client on one keep-alive connection, the scrape is the one request in
    flight (wess_concurrent_connections, the original's name) on the one open
    connection; the store's directory has a size."""
    server = ServerProcess(data_dir=tmp_path / "data", log_path=tmp_path / "wess.log").start()
    try:
        with server.client() as client:
            for _ in range(2):  # the second scrape is on the connection the first opened
                scrape = Scrape(client.get("/metrics").text)
    finally:
        assert server.stop() == 0
    assert scrape.value("wess_concurrent_connections") == 1
    assert scrape.value("wess_http_connections") >= 1  # readiness polls may still be closing
    assert scrape.value("wess_database_size_bytes") > 0
