"""Writer over RocksDB, killed with SIGKILL: every acknowledged change has its audit entry."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from tests.storage.builders import AUDIT_KEY
from wess.messages import CreateModule, ModuleContent
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
    """The store's database handle, recording each write batch: its size, whether it was
    written with sync, and when it returned (after the fsync, for a synced write)."""

    def __init__(self, db: object, events: list[tuple[str, int]]) -> None:
        self._db = db
        self._events = events

    def write(self, batch: Any, options: Any) -> None:
        size = len(batch)  # a written batch is consumed
        self._db.write(batch, options)  # type: ignore[attr-defined]
        self._events.append(("synced" if options.sync else "unsynced", size))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_no_write_is_acknowledged_before_its_batch_is_synced(tmp_path: Path) -> None:
    """A kill -9 cannot show a missing fsync (the page cache survives the process), so
    the order is checked directly: every batch the Writer commits is written with
    sync=True, and when a submit returns, the synced batches written before it hold at
    least as many jobs as have been acknowledged. An acknowledgement sent before its
    batch's write (or a batch written without sync) fails here."""
    store = await RocksStore.open(tmp_path)
    events: list[tuple[str, int]] = []
    store._d.db = SyncRecorder(store._d.db, events)  # type: ignore[assignment]
    keys_per_create = 3  # metadata, bytes, index entry (no actor: no audit entry)
    acknowledged = 0

    async def create(seed: int) -> None:
        nonlocal acknowledged
        await writer.submit(job_of(seed))
        acknowledged += 1
        synced = sum(size for kind, size in events if kind == "synced")
        assert synced // keys_per_create >= acknowledged, events

    try:
        async with Writer(store, audit_key=AUDIT_KEY, metrics=Metrics(), max_batch=8) as writer:
            await asyncio.gather(*(create(seed) for seed in range(64)))
    finally:
        await store.aclose()
    assert acknowledged == 64
    assert [kind for kind, _ in events] == ["synced"] * len(events)
    assert len(events) > 1  # several batches: the check ran across batch boundaries


def job_of(seed: int) -> CreateModule:
    wasm = b"\0asm\x01\0\0\0" + seed.to_bytes(4, "big")
    content = ModuleContent(name=f"m{seed}", wasm=wasm, digest=digest_of(wasm), functions=())
    return CreateModule(module_id=uuid4(), namespace="default", content=content)
