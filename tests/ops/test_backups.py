"""Backups: verified checkpoints of a RocksDB store taken while it is written, listed,
checked, pruned and restored into a fresh data directory that a server can start from."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.workers.jobs import ALICE, create
from wess.errors import ConfigError
from wess.models import ModuleInfo
from wess.observability.metrics import Metrics
from wess.ops.backup_manifest import MANIFEST
from wess.ops.backups import DB, BackupNotFound, Backups, audit_key_of
from wess.ops.restore import RESTORE, restore
from wess.security.anchor import AnchorFile
from wess.security.audit import Anchor, verify
from wess.security.secrets import SECRET_FILE, ServerSecret
from wess.storage import Store, open_store
from wess.storage.memory import MemoryStore
from wess.testing import FakeClock
from wess.workers.anchoring import check_anchor
from wess.workers.writer import Writer


@asynccontextmanager
async def served(data: Path) -> AsyncIterator[tuple[Store, Writer]]:
    """A RocksDB store in ``data`` with its secret, and a Writer over it."""
    ServerSecret.load_or_create(data)
    key = audit_key_of((data / SECRET_FILE).read_bytes())
    async with (
        open_store(f"rocksdb:{data}") as store,
        Writer(store, audit_key=key, metrics=Metrics(), clock=FakeClock()) as writer,
    ):
        yield store, writer


def backups_in(tmp_path: Path) -> Backups:
    return Backups(tmp_path / "backups", wess_version="test")


async def modules_of(store: Store) -> list[ModuleInfo]:
    return await store.modules.list(namespace=None, after=None, limit=10_000)


async def test_a_backup_reads_back_whole_and_is_listed(tmp_path: Path) -> None:
    """create checkpoints, reads the checkpoint back and records what it holds; list
    shows it, a prefix of its id or `latest` name it, and verify finds it whole."""
    backups = backups_in(tmp_path)
    async with served(tmp_path / "data") as (store, writer):
        for number in range(5):
            await writer.submit(create(seed=str(number), actor=ALICE))
        manifest = await backups.create(store, secret_file=tmp_path / "data" / SECRET_FILE)
    assert (manifest.content.modules, manifest.content.audit) == (5, 5)
    assert manifest.content.audit_chain == "intact"
    assert manifest.store_format == "wess-rocks/3"
    assert {item.path for item in manifest.files} >= {"server.secret", f"{DB}/CURRENT"}
    assert [m.id for m in backups.list()] == [manifest.id]
    assert backups.resolve(manifest.id[:10]) == manifest
    assert backups.resolve("latest") == manifest
    assert (await backups.verify(manifest)).ok


async def test_verify_finds_a_changed_or_missing_file(tmp_path: Path) -> None:
    """A backup file that changed, or went missing, after the backup was taken is named."""
    backups = backups_in(tmp_path)
    async with served(tmp_path / "data") as (store, writer):
        await writer.submit(create(actor=ALICE))
        manifest = await backups.create(store, secret_file=tmp_path / "data" / SECRET_FILE)
    root = backups.path(manifest)
    secret = root / "server.secret"
    secret.write_bytes(bytes(32))
    problems = (await backups.verify(manifest)).problems
    assert "file server.secret changed since the backup was taken" in problems
    current = root / DB / "CURRENT"
    current.unlink()
    problems = (await backups.verify(manifest)).problems
    assert f"file {DB}/CURRENT is missing" in problems


async def test_names_that_fit_no_backup_or_several_are_refused(tmp_path: Path) -> None:
    backups = backups_in(tmp_path)
    async with served(tmp_path / "data") as (store, _):
        first = await backups.create(store, secret_file=tmp_path / "data" / SECRET_FILE)
        await backups.create(store, secret_file=tmp_path / "data" / SECRET_FILE)
    with pytest.raises(BackupNotFound, match="no backup 'zz'"):
        backups.resolve("zz")
    with pytest.raises(BackupNotFound, match="names 2 backups"):
        backups.resolve(first.id[:4])


async def test_prune_keeps_the_newest_and_removes_unfinished_ones(tmp_path: Path) -> None:
    """prune --keep 2 of three backups removes the oldest, and any .partial left by a
    crash; --dry-run only says so."""
    backups = backups_in(tmp_path)
    async with served(tmp_path / "data") as (store, _):
        made = [
            await backups.create(store, secret_file=tmp_path / "data" / SECRET_FILE)
            for _ in range(3)
        ]
    (backups.directory / ".20000101T000000Z-dead00.partial").mkdir()
    planned = backups.prune(keep=2, dry_run=True)
    assert len(backups.list()) == 3
    assert backups.prune(keep=2) == planned
    assert planned[0] in {m.id for m in made}
    assert [m.id for m in backups.list()] == [m.id for m in backups.list()[-2:]]
    assert not any(entry.name.endswith(".partial") for entry in backups.directory.iterdir())
    with pytest.raises(ConfigError):
        backups.prune(keep=0)


async def test_a_memory_store_has_nothing_to_back_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="memory"):
        await MemoryStore().admin.checkpoint(str(tmp_path / "x"))


async def test_a_backup_taken_under_writes_holds_every_acknowledged_write(
    tmp_path: Path,
) -> None:
    """Eight writers go on writing while the checkpoint is taken: the backup holds every
    module acknowledged before it began, with its digest, and the writes go on."""
    backups = backups_in(tmp_path)
    acknowledged: dict[str, str] = {}
    stop = asyncio.Event()
    enough = asyncio.Event()

    async def keep_writing(writer: Writer, worker: int) -> None:
        number = 0
        while not stop.is_set():
            info = await writer.submit(create(seed=f"{worker}-{number}", actor=ALICE))
            assert info is not None
            acknowledged[str(info.id)] = info.digest
            if len(acknowledged) >= 50:
                enough.set()
            number += 1
            await asyncio.sleep(0)

    async with served(tmp_path / "data") as (store, writer):
        writers = [asyncio.create_task(keep_writing(writer, n)) for n in range(8)]
        await enough.wait()
        before = dict(acknowledged)
        manifest = await backups.create(store, secret_file=tmp_path / "data" / SECRET_FILE)
        during = len(acknowledged) - len(before)
        stop.set()
        await asyncio.gather(*writers)
    assert manifest.content.modules >= len(before)
    async with open_store(f"rocksdb:{backups.path(manifest) / DB}", read_only=True) as copy:
        held = {str(info.id): info.digest for info in await modules_of(copy)}
    assert before.items() <= held.items()
    print(f"writes acknowledged while the backup was taken: {during}")


async def test_a_restored_store_starts_and_its_log_says_it_was_restored(
    tmp_path: Path,
) -> None:
    """restore copies the backup and its secret into a new data directory, appends one
    backup.restore entry naming the anchor it replaced, and re-anchors the log: the
    newer anchor (written after the backup) no longer stops the start."""
    backups = backups_in(tmp_path)
    data = tmp_path / "data"
    async with served(data) as (store, writer):
        for number in range(3):
            await writer.submit(create(seed=str(number), actor=ALICE))
        manifest = await backups.create(store, secret_file=data / SECRET_FILE)
        backed_up = await modules_of(store)
        await writer.submit(create(seed="after", actor=ALICE))
        newest = writer.audit_head
        assert newest is not None
    key = audit_key_of((data / SECRET_FILE).read_bytes())
    anchor_path = tmp_path / "elsewhere" / "audit.anchor"
    AnchorFile(anchor_path, key).write(Anchor(newest.seq, newest.hash))
    into = tmp_path / "restored"
    done = await restore(
        backups,
        "latest",
        into=into,
        secret_file=into / SECRET_FILE,
        anchor_file=anchor_path,
        keyring=None,
        actor="local:test",
    )
    assert done.previous_anchor == Anchor(newest.seq, newest.hash)
    assert (into / SECRET_FILE).read_bytes() == (data / SECRET_FILE).read_bytes()
    async with open_store(f"rocksdb:{into}") as restored:
        assert await modules_of(restored) == backed_up
        log = await restored.audit.list(after=0, limit=100)
        assert verify(log, key=key).ok
        assert log[-1].action == RESTORE
        assert f"anchor_was={newest.seq} " in (log[-1].target or "")
        assert await check_anchor(restored.audit, AnchorFile(anchor_path, key)) is not None
    assert manifest.content.modules == 3


async def test_restore_refuses_a_used_directory_and_another_secret(tmp_path: Path) -> None:
    backups = backups_in(tmp_path)
    async with served(tmp_path / "data") as (store, _):
        await backups.create(store, secret_file=tmp_path / "data" / SECRET_FILE)
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("x")
    options = {"anchor_file": tmp_path / "a", "keyring": None, "actor": "local:test"}
    with pytest.raises(ConfigError, match="not empty"):
        await restore(backups, "latest", into=used, secret_file=used / "s", **options)
    other = tmp_path / "other.secret"
    other.write_bytes(bytes(32))
    with pytest.raises(ConfigError, match="another server secret"):
        await restore(backups, "latest", into=tmp_path / "new", secret_file=other, **options)


def test_the_manifest_is_json_with_its_format(tmp_path: Path) -> None:
    """A manifest names its format, so a later Wess can tell what it reads."""
    document = {"format": "wess-backup/9"}
    (tmp_path / MANIFEST).write_text(json.dumps(document))
    assert Backups(tmp_path.parent, wess_version="t").list() == []


async def test_prune_leaves_the_partial_of_a_backup_being_taken(tmp_path: Path) -> None:
    """While a backup is being taken (its lock held, here by hand), prune removes old
    backups but not the .partial directory being written; afterwards it does."""
    import os

    from wess.ops.backups import _lock

    backups = backups_in(tmp_path)
    async with served(tmp_path / "data") as (store, _):
        await backups.create(store, secret_file=tmp_path / "data" / SECRET_FILE)
    partial = backups.directory / ".20990101T000000Z-aaaaaa.partial"
    partial.mkdir()
    held = _lock(backups.directory, wait=True)
    assert held is not None
    try:
        assert backups.prune(keep=1) == []
        assert partial.exists()
    finally:
        os.close(held)
    assert backups.prune(keep=1) == [partial.name]
