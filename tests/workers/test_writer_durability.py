"""Writer over RocksDB, killed with SIGKILL: every acknowledged change has its audit entry."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from tests.storage.builders import AUDIT_KEY
from wess.errors import StorageUnavailable
from wess.messages import CreateModule, ModuleContent, UpdateModule
from wess.models import digest_of
from wess.observability.metrics import Metrics
from wess.security.audit import verify
from wess.security.crypto import Kek, Keyring
from wess.storage.rocks import RocksStore
from wess.workers.writer import Writer

SRC = str(Path(__file__).resolve().parents[2] / "src")
KEK = bytes(range(32))

# Eight tasks create modules through one Writer (so batches hold several jobs and their
# entries), each printing a module id once submit() returned, i.e. once acknowledged.
# It never stops by itself: the test kills it.
WRITER_SCRIPT = """
import asyncio, logging, os, sys, uuid
sys.path.insert(0, {src!r})
import structlog
structlog.configure(  # stdout carries the acknowledged ids only
    wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    logger_factory=structlog.PrintLoggerFactory(sys.stderr),
)
from wess.messages import Actor, CreateModule, ModuleContent
from wess.models import digest_of
from wess.errors import StorageUnavailable
from wess.observability.metrics import Metrics
from wess.security.audit import AuditKey
from wess.security.crypto import Kek, Keyring
from wess.storage.rocks import RocksStore
from wess.workers.writer import Writer

AUDIT_KEY = AuditKey(bytes(range(32)))  # the tests' key (tests/storage/builders.py)

async def main(path, encrypted):
    keyring = Keyring(Kek(bytes(range(32)))) if encrypted else None
    repo = await RocksStore.open(path, keyring=keyring)
    actor = Actor(name="api_key:00000000000a11ce", client_ip="192.0.2.7")
    async with Writer(repo, audit_key=AUDIT_KEY, metrics=Metrics(), max_batch=16) as writer:
        async def create(task):
            for i in range(1_000_000):
                wasm = b"\\0asm\\1\\0\\0\\0" + os.urandom(200 + i % 64)
                content = ModuleContent(name=f"m{{task}}-{{i}}", wasm=wasm,
                                        digest=digest_of(wasm), functions=())
                job = CreateModule(module_id=uuid.uuid4(), namespace="default",
                                   content=content, actor=actor, request_id=f"{{task}}-{{i}}")
                await writer.submit(job)
                print(job.module_id, flush=True)
        await asyncio.gather(*(create(task) for task in range(8)))

asyncio.run(main(sys.argv[1], sys.argv[2] == "1"))
"""


def run_until_killed(path: Path, *, encrypted: bool, kill_after: int) -> list[UUID]:
    """Start the writer; SIGKILL it once ``kill_after`` creates were acknowledged."""
    script = WRITER_SCRIPT.format(src=SRC)
    acknowledged: list[UUID] = []
    command = [sys.executable, "-c", script, str(path / "db"), "1" if encrypted else "0"]
    log = path / "writer.log"
    with (
        log.open("w") as stderr,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:  # lines printed before the kill are still read
            acknowledged.append(UUID(line.strip()))
            if len(acknowledged) == kill_after:
                os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, log.read_text()
    return acknowledged


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_kill_9_keeps_every_acknowledged_change_and_its_audit_entry(
    tmp_path: Path, encrypted: bool
) -> None:
    """After kill -9, every module whose create was acknowledged is there with its bytes,
    its module.create entry is in the log, and the whole log verifies as one chain."""
    acknowledged = run_until_killed(tmp_path, encrypted=encrypted, kill_after=120)
    assert len(acknowledged) >= 120
    keyring = Keyring(Kek(KEK)) if encrypted else None
    repository = await RocksStore.open(tmp_path / "db", keyring=keyring)
    try:
        entries = await repository.audit.list(after=0, limit=1_000_000)
        result = verify(entries, key=AUDIT_KEY)
        assert result.ok, result
        assert entries[-1] == await repository.audit.head()
        audited = {e.target for e in entries if (e.action, e.outcome) == ("module.create", "ok")}
        for module_id in acknowledged:
            record = await repository.modules.get(module_id)
            assert record is not None, f"acknowledged module {module_id} was lost"
            assert str(module_id) in audited, f"module {module_id} has no audit entry"
        assert len(audited) == await repository.modules.count()  # no entry without its module
    finally:
        await repository.aclose()


class SyncRecorder:
    """The store's database handle, recording each write batch (its size, and whether
    it was written with sync) and each ``flush_wal`` once it returned; a flush waits
    while ``hold`` is clear, and ``written`` is set by every write."""

    def __init__(self, db: object, events: list[tuple[str, int]]) -> None:
        self._db = db
        self._events = events
        self.hold = threading.Event()
        self.hold.set()
        self.written = threading.Event()

    def write(self, batch: Any, options: Any) -> None:
        size = len(batch)  # a written batch is consumed
        self._db.write(batch, options)  # type: ignore[attr-defined]
        self._events.append(("synced" if options.sync else "unsynced", size))
        self.written.set()

    def flush_wal(self, sync: bool) -> None:
        self.hold.wait()
        self._db.flush_wal(sync)  # type: ignore[attr-defined]
        self._events.append(("flushed" if sync else "flushed_without_sync", 0))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def durable_keys(events: list[tuple[str, int]]) -> int:
    """Keys written before the last synced flush returned (or written with sync)."""
    durable = pending = 0
    for kind, size in list(events):
        if kind == "synced":
            durable += pending + size
            pending = 0
        elif kind == "unsynced":
            pending += size
        elif kind == "flushed":
            durable += pending
            pending = 0
    return durable


async def test_no_write_is_acknowledged_before_its_batch_is_synced(tmp_path: Path) -> None:
    """A kill -9 cannot show a missing fsync (the page cache survives the process), so
    the order is checked directly: batches are written without sync and made durable
    by a synced ``flush_wal`` (the pipeline), and when a submit returns, the batches
    written before the last synced flush hold at least as many jobs as have been
    acknowledged. An acknowledgement sent before its batch's sync fails here."""
    store = await RocksStore.open(tmp_path)
    events: list[tuple[str, int]] = []
    store._d.db = SyncRecorder(store._d.db, events)  # type: ignore[assignment]
    keys_per_create = 3  # metadata, bytes, index entry (no actor: no audit entry)
    acknowledged = 0

    async def create(seed: int) -> None:
        nonlocal acknowledged
        await writer.submit(job_of(seed))
        acknowledged += 1
        assert durable_keys(events) // keys_per_create >= acknowledged, events

    try:
        async with Writer(store, audit_key=AUDIT_KEY, metrics=Metrics(), max_batch=8) as writer:
            await asyncio.gather(*(create(seed) for seed in range(64)))
    finally:
        await store.aclose()
    assert acknowledged == 64
    kinds = {kind for kind, _ in events}
    assert kinds == {"unsynced", "flushed"}, events  # every flush syncs
    assert sum(1 for kind, _ in events if kind == "unsynced") > 1  # across batch boundaries


async def test_readers_see_no_batch_before_its_sync_while_the_next_one_forms(
    tmp_path: Path,
) -> None:
    """With a batch written and its sync held: a read of its module waits (the
    durability gate) and the submit is unanswered, while the Writer already checks the
    next batch against it (an update of that module, planned as revision 2). Once the
    sync returns, the read finds the module and both writes are acknowledged."""
    store = await RocksStore.open(tmp_path)
    events: list[tuple[str, int]] = []
    recorder = SyncRecorder(store._d.db, events)
    store._d.db = recorder  # type: ignore[assignment]
    recorder.hold.clear()
    first = job_of(1)
    try:
        async with Writer(store, audit_key=AUDIT_KEY, metrics=Metrics()) as writer:
            created = asyncio.ensure_future(writer.submit(first))
            await asyncio.to_thread(recorder.written.wait)
            recorder.written.clear()
            read = asyncio.ensure_future(store.modules.get(first.module_id))
            await asyncio.to_thread(wait_for_a_waiting_reader, store)
            update = UpdateModule(
                module_id=first.module_id, namespace="default", content=first.content
            )
            updated = asyncio.ensure_future(writer.submit(update))
            # the second batch is checked (against the first) and waits for the gate
            await asyncio.to_thread(wait_for_the_write_thread_to_wait, store)
            assert not created.done()
            assert not read.done()
            assert not updated.done()
            assert [kind for kind, _ in events] == ["unsynced"]
            recorder.hold.set()
            record = await read
            assert record is not None
            assert record.info.revision == 1
            assert (await created) is not None
            info = await updated
            assert info is not None
            assert info.revision == 2
    finally:
        recorder.hold.set()
        await store.aclose()


def wait_for_a_waiting_reader(store: RocksStore) -> None:
    while store._d.gate._waiting == 0:  # the read reached the closed gate
        time.sleep(0.001)


def wait_for_the_write_thread_to_wait(store: RocksStore) -> None:
    while not store._d.gate._closing:  # the next batch waits to be written
        time.sleep(0.001)


def job_of(seed: int) -> CreateModule:
    wasm = b"\0asm\x01\0\0\0" + seed.to_bytes(4, "big")
    content = ModuleContent(name=f"m{seed}", wasm=wasm, digest=digest_of(wasm), functions=())
    return CreateModule(module_id=uuid4(), namespace="default", content=content)


class FailingSync(SyncRecorder):
    """A disk whose log sync fails."""

    def flush_wal(self, sync: bool) -> None:
        raise Exception("IO error: fsync failed")  # rocksdict raises plain Exception


async def test_a_failed_sync_fails_the_write_and_every_read_after_it(tmp_path: Path) -> None:
    """A batch whose sync failed is written yet maybe not durable: its submit fails with
    StorageUnavailable, and so does every read after it, rather than show the batch."""
    store = await RocksStore.open(tmp_path)
    store._d.db = FailingSync(store._d.db, [])  # type: ignore[assignment]
    job = job_of(1)
    try:
        async with Writer(store, audit_key=AUDIT_KEY, metrics=Metrics()) as writer:
            with pytest.raises(StorageUnavailable):
                await writer.submit(job)
        with pytest.raises(StorageUnavailable, match="syncing its log failed"):
            await store.modules.get(job.module_id)
    finally:
        await store.aclose()
