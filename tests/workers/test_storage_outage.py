"""A storage outage under the whole worker stack, storage behind its breakers: cached
modules keep running, what needs storage fails fast, and a probe after the cool-down
brings everything back, with no restart."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.fixtures import wasm
from tests.storage.builders import SUM
from tests.workers.serving import serving
from wess.circuit import CircuitBreaker, CircuitState
from wess.errors import StorageCircuitOpen, StorageUnavailable
from wess.messages import CreateModule, ModuleContent
from wess.models import DEFAULT_NAMESPACE, digest_of
from wess.storage.breaking import BreakerStore
from wess.testing import FakeClock, MemoryStore, RecordingStore

DOWN = StorageUnavailable("the disk is gone")
READS = ("modules.get", "modules.get_info", "audit.head", "modules.get_artifact")


def down(recording: RecordingStore, error: Exception | None) -> None:
    """Every read and every commit fails with ``error`` (None: storage is back)."""
    for op in READS:
        recording.fail(op, error)
    recording.commit_error = error


async def test_cached_modules_run_through_an_outage_and_storage_comes_back() -> None:
    """Storage dies: a module in the Reader's cache still runs; after three failed reads
    the read breaker is open and an uncached read is refused at once. An upload's commit
    fails once (storage unavailable: it may have landed, so it is not tried again); the
    Writer must then read the audit head again, which the open breaker refuses, so the
    next uploads fail fast without reaching the store. Storage returns: after the
    cool-down the next read probes, and reads and writes work again, with no restart."""
    clock = FakeClock()
    recording = RecordingStore(MemoryStore())

    def breaker() -> CircuitBreaker:
        return CircuitBreaker(threshold=3, cooldown=5, clock=clock.monotonic)

    store = BreakerStore(recording, reads=breaker(), writes=breaker())
    async with serving(store) as stack:
        cached = await stack.create("sum")
        other = await stack.create("numbers")
        assert await stack.run(cached.id, "sum", [1, 2]) == [3]
        down(recording, DOWN)
        for _ in range(3):
            with pytest.raises(StorageUnavailable):
                await stack.reader.get(other.id)
        assert store.reads.state is CircuitState.OPEN
        reads = recording.calls["modules.get"]
        assert await stack.run(cached.id, "sum", [2, 3]) == [5]
        with pytest.raises(StorageCircuitOpen):
            await stack.reader.get(other.id)
        assert recording.calls["modules.get"] == reads
        with pytest.raises(StorageUnavailable, match="disk is gone"):
            await stack.writer.submit(upload("sum"))
        commits = recording.calls["commit"]
        for _ in range(3):
            with pytest.raises(StorageCircuitOpen):
                await stack.writer.submit(upload("sum"))
        assert recording.calls["commit"] == commits
        down(recording, None)
        clock.advance(5)
        assert (await stack.reader.get(other.id)).id == other.id
        assert store.reads.state is CircuitState.CLOSED
        assert await stack.writer.submit(upload("sum")) is not None
        assert store.writes.state is CircuitState.CLOSED


def upload(name: str) -> CreateModule:
    """A create job for fixture ``name``, as the service makes one."""
    module = wasm(name)
    content = ModuleContent(name=name, wasm=module, digest=digest_of(module), functions=(SUM,))
    return CreateModule(module_id=uuid4(), namespace=DEFAULT_NAMESPACE, content=content)
