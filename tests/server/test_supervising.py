"""How many server processes `wess serve` starts, and what each is told."""

from __future__ import annotations

import os

import pytest

from wess.config import load_settings
from wess.errors import ConfigError
from wess.server.serving import refuse_unavailable
from wess.server.supervising import process_count, worker_settings

SHARED = "postgresql://postgres@127.0.0.1:5432/test?schema=s"


def test_one_process_per_core_with_a_shared_store_one_with_the_embedded_one() -> None:
    assert process_count(load_settings(env={"WESS_DB_URL": SHARED}).settings) == os.cpu_count()
    assert process_count(load_settings(env={}).settings) == 1
    assert process_count(load_settings(env={"WESS_DB_URL": "memory://"}).settings) == 1


def test_a_configured_count_wins() -> None:
    env = {"WESS_DB_URL": SHARED, "WESS_SERVER_WORKERS": "3"}
    assert process_count(load_settings(env=env).settings) == 3
    assert process_count(load_settings(env={"WESS_SERVER_WORKERS": "1"}).settings) == 1


@pytest.mark.parametrize("url", ["memory://", "rocksdb:data"])
def test_several_processes_on_a_store_one_process_opens_are_refused(url: str) -> None:
    settings = load_settings(env={"WESS_DB_URL": url, "WESS_SERVER_WORKERS": "2"}).settings
    with pytest.raises(ConfigError, match="several server processes need a shared store"):
        refuse_unavailable(settings)
    refuse_unavailable(
        load_settings(env={"WESS_DB_URL": SHARED, "WESS_SERVER_WORKERS": "2"}).settings
    )


def test_a_worker_serves_the_bound_port_alone_under_its_own_node_id() -> None:
    settings = load_settings(env={"WESS_DB_URL": SHARED, "WESS_SERVER_PORT": "0"}).settings
    worker = worker_settings(settings, port=4321, node="n.1")
    assert (worker.server.port, worker.server.workers, worker.server.node_id) == (4321, 1, "n.1")
    assert worker.database == settings.database
    assert process_count(worker) == 1
