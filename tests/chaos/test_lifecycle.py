"""The module lifecycle as a Hypothesis state machine, through the real app, on every
store: creates, updates (with and without a matching If-Match), reads, listings,
deletes and runs in any order Hypothesis finds, each answer checked against a model of
what the store must hold. Memory, RocksDB and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.chaos.conftest import UNLIMITED, chaos_level
from tests.fixtures import distinct_sum
from tests.support import postgres_schema
from wess.testing import TestClient, open_client, test_settings

pytestmark = pytest.mark.chaos
WASM = {"content-type": "application/wasm"}
BACKENDS = ("memory", "rocksdb", "postgresql")
RUNS = chaos_level().pick(short=5, full=60)
STEPS = chaos_level().pick(short=12, full=40)


def digest_of(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


@contextlib.contextmanager
def store_env(backend: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The settings naming a fresh store of ``backend`` (RocksDB keeps the admin key
    file in its own directory, so that is the data path too)."""
    if backend == "postgresql":
        with postgres_schema(f"lc_{secrets.token_hex(6)}") as url:
            yield {"WESS_DATABASE_URL": url}
        return
    if backend == "memory":
        yield {"WESS_DATABASE_URL": "memory://"}
        return
    path = tmp_path / "db"
    yield {"WESS_DATABASE_URL": f"rocksdb://{path}", "WESS_DB_PATH": str(path)}


class Lifecycle(RuleBasedStateMachine):
    """The model: module id -> digest of the bytes it holds now."""

    client: TestClient
    runner: asyncio.Runner

    modules = Bundle("modules")

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[str, str] = {}
        self.serial = 0

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        return self.runner.run(self.client.request(method, url, **kwargs))

    @initialize()
    def start_empty(self) -> None:
        """Each run starts from an empty store (the app stays open between runs)."""
        listed = self.call("GET", "/v1/modules", params={"limit": "1000"}).json()["items"]
        for item in listed:
            assert self.call("DELETE", f"/v1/modules/{item['id']}").status_code == 204

    def _content(self) -> bytes:
        self.serial += 1
        return distinct_sum(self.serial)

    @rule(target=modules)
    def create(self) -> str:
        content = self._content()
        response = self.call("POST", "/v1/modules", content=content, headers=WASM)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["digest"] == digest_of(content)
        assert body["revision"] == 1
        self.held[body["id"]] = body["digest"]
        return str(body["id"])

    @rule(module_id=modules, matching=st.booleans())
    def update(self, module_id: str, matching: bool) -> None:
        content = self._content()
        current = self.held.get(module_id)
        tag = f'"{current}"' if matching and current else '"sha256:' + "0" * 64 + '"'
        response = self.call(
            "PUT", f"/v1/modules/{module_id}", content=content, headers={**WASM, "if-match": tag}
        )
        if current is None:
            assert response.status_code == 404, response.text
        elif matching:
            assert response.status_code == 200, response.text
            self.held[module_id] = digest_of(content)
        else:
            assert (response.status_code, response.json()["code"]) == (412, "precondition_failed")

    @rule(module_id=modules)
    def read(self, module_id: str) -> None:
        meta = self.call("GET", f"/v1/modules/{module_id}")
        download = self.call("GET", f"/v1/modules/{module_id}/wasm")
        if module_id not in self.held:
            assert meta.status_code == download.status_code == 404
            return
        assert meta.json()["digest"] == self.held[module_id]
        assert digest_of(download.content) == self.held[module_id]

    @rule(module_id=modules, a=st.integers(-1000, 1000), b=st.integers(-1000, 1000))
    def run(self, module_id: str, a: int, b: int) -> None:
        response = self.call("POST", f"/v1/modules/{module_id}/run", json={"args": [a, b]})
        if module_id not in self.held:
            assert response.status_code == 404
        else:
            assert response.json()["results"] == [a + b], response.text

    @rule(module_id=consumes(modules))
    def delete(self, module_id: str) -> None:
        response = self.call("DELETE", f"/v1/modules/{module_id}")
        if module_id in self.held:
            assert response.status_code == 204, response.text
            del self.held[module_id]
        else:
            assert response.status_code == 404

    @invariant()
    def listing_matches_the_model(self) -> None:
        listed = self.call("GET", "/v1/modules", params={"limit": "1000"}).json()["items"]
        assert {m["id"]: m["digest"] for m in listed} == self.held


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_module_lifecycle_holds_on_every_store(backend, tmp_path, record):
    with store_env(backend, tmp_path) as env, asyncio.Runner() as runner:
        settings_ = test_settings(**env, **UNLIMITED)
        opened = open_client(settings_)
        client = runner.run(opened.__aenter__())
        try:
            Lifecycle.client = client
            Lifecycle.runner = runner
            run_state_machine_as_test(
                Lifecycle,
                settings=settings(
                    max_examples=RUNS,
                    stateful_step_count=STEPS,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
        finally:
            runner.run(opened.__aexit__(None, None, None))
    record(backend=backend, runs=RUNS, steps=STEPS)
