"""Restoring a backup into a fresh data directory, ready for a server to start from.

``restore`` refuses a backup that does not verify, and a target that holds anything.
It copies the checkpoint (table files hard-linked when they share a file system: a
store never changes a table file, only replaces it) and the server secret, then opens
the new store and appends ONE audit entry, ``backup.restore``, naming the backup, the
head it restored and the head the anchor recorded before; and moves the anchor to that
entry.

The anchor is why: it records the newest head the server ever wrote, outside the
store, so a log cut short is refused at start-up. A restored log is older than the
anchor on purpose; the restore, which holds the secret, says so in the log itself and
re-anchors it there, so the server starts, and the rollback stays visible to whoever
reads or verifies the log afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from wess.errors import ConfigError, IntegrityError
from wess.files import make_private, sync_directory, write_file
from wess.models import AuditFields
from wess.ops.backups import DB, SECRET, Backups, audit_key_of
from wess.security.anchor import AnchorFile
from wess.security.audit import Anchor, chain
from wess.security.crypto import Keyring
from wess.storage import AppendAudit, open_store

RESTORE = "backup.restore"
Progress = Callable[[int, int], None]
"""Told (files copied, bytes copied)."""


@dataclass(frozen=True, slots=True)
class Restored:
    backup_id: str
    into: Path
    head: Anchor
    previous_anchor: Anchor | None
    """What the anchor named before the restore moved it (None: there was none)."""


async def restore(
    backups: Backups,
    name: str,
    *,
    into: Path,
    secret_file: Path,
    anchor_file: Path,
    keyring: Keyring | None,
    actor: str,
    progress: Progress | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Restored:
    """Restore backup ``name`` into the new data directory ``into``.

    ``secret_file`` and ``anchor_file`` are where the restored server will look for its
    secret and anchor (inside ``into`` unless configured elsewhere). A secret file
    there already must be the backup's own: another one could not verify its keys or
    its audit log.
    """
    manifest = backups.resolve(name)
    await asyncio.to_thread(_check_empty, into)
    verification = await backups.verify(manifest)
    if not verification.ok:
        raise IntegrityError(
            f"backup {manifest.id} does not verify: {'; '.join(verification.problems[:3])}"
        )
    source = backups.path(manifest)
    secret = await asyncio.to_thread(_place, source, manifest.id, into, secret_file, progress)
    key = audit_key_of(secret)
    anchors = AnchorFile(anchor_file, key)
    try:
        previous = await asyncio.to_thread(anchors.read)
    except IntegrityError:
        previous = None  # another secret's, or damaged: the restore replaces it either way
    async with open_store(f"rocksdb:{into}", keyring=keyring) as store:
        head = await store.audit.head()
        restored = Anchor(0, "") if head is None else Anchor(head.seq, head.hash)
        before = "none" if previous is None else f"{previous.seq} {previous.hash[:16]}"
        fields = AuditFields(
            time=now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            actor=actor,
            namespace=None,
            action=RESTORE,
            target=f"{manifest.id} head={restored.seq} anchor_was={before}",
            outcome="ok",
            request_id=None,
            client_ip=None,
        )
        entry = chain(head, fields, key=key)
        await store.commit([AppendAudit(entry)])
    await asyncio.to_thread(anchors.write, Anchor(entry.seq, entry.hash))
    await asyncio.to_thread(make_private, into)
    return Restored(manifest.id, into, restored, previous)


def _check_empty(into: Path) -> None:
    if into.exists() and any(into.iterdir()):
        raise ConfigError(f"{into} is not empty; restore into a new data directory")


def _place(
    source: Path, backup_id: str, into: Path, secret_file: Path, progress: Progress | None
) -> bytes:
    """Copy the backup's store into ``into`` and its secret to ``secret_file`` (unless
    that holds it already); answers the secret."""
    secret = (source / SECRET).read_bytes()
    if secret_file.exists() and secret_file.read_bytes() != secret:
        raise ConfigError(
            f"{secret_file} holds another server secret than backup {backup_id}; the "
            "restored keys and audit log need the backup's: move that file away first"
        )
    _copy(source / DB, into, progress)
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        write_file(secret_file, secret, mode=0o600)
    return secret


def _copy(source: Path, into: Path, progress: Progress | None) -> None:
    """Copy the checkpoint's files into ``into``: table files linked when possible."""
    files = sorted(path for path in source.iterdir() if path.is_file())
    into.mkdir(mode=0o700, parents=True, exist_ok=True)
    done = 0
    for number, path in enumerate(files, start=1):
        target = into / path.name
        linked = False
        if path.suffix == ".sst":
            try:
                os.link(path, target)
                linked = True
            except OSError:
                linked = False
        if not linked:
            shutil.copyfile(path, target)
            with target.open("rb+") as handle:
                os.fsync(handle.fileno())
        done += path.stat().st_size
        if progress is not None:
            progress(number, done)
    sync_directory(into)
