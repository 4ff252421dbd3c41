"""Backups: consistent checkpoints of a store, taken while it serves, each verified.

A backup is a directory ``<backup dir>/<id>/``:

    db/             a RocksDB checkpoint: consistent across every column family, taken
                    while reads and writes go on (table files hard-linked when on the
                    same file system, copied otherwise)
    server.secret   a copy of the server secret: API key hashes and the audit chain's
                    MACs depend on it, so a restore needs it (keep backups as private
                    as the data directory; the key-encryption key is NOT copied)
    manifest.json   time, Wess and format versions, what the store held, every file's
                    SHA-256 (``backup_manifest``)

``create`` checkpoints into ``.<id>.partial``, opens the checkpoint read-only and
reads it whole (every module's bytes against their digest, the audit chain under the
secret's key), hashes the files, writes the manifest, and only then renames the
directory to ``<id>``: a backup that exists was verified, and a crash leaves only a
``.partial`` directory, which ``prune`` removes. ``verify`` does the reading and hashing
again and compares them with the manifest.
"""

from __future__ import annotations

import asyncio
import builtins
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from wess.errors import ConfigError, IntegrityError, WessError
from wess.files import make_private, sync_directory, write_file
from wess.ops.backup_manifest import (
    MANIFEST,
    BackupManifest,
    Content,
    differences,
    file_digests,
    summarize,
)
from wess.security.audit import AUDIT_KEY_LABEL, AuditKey
from wess.security.crypto import Keyring
from wess.security.secrets import ServerSecret
from wess.storage import Store, open_store
from wess.storage.rocks.layout import FORMAT

DB = "db"
SECRET = "server.secret"  # noqa: S105 - a file name
PARTIAL = ".partial"
LOCK_FILE = ".lock"
LATEST = "latest"


class BackupNotFound(ConfigError):
    """No backup, or more than one, answers to the name given."""


@dataclass(frozen=True, slots=True)
class Verification:
    manifest: BackupManifest
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {"id": self.manifest.id, "ok": self.ok, "problems": list(self.problems)}


def audit_key_of(secret: bytes) -> AuditKey:
    """The audit key a server with the secret ``secret`` MACs its log with."""
    return AuditKey(ServerSecret(secret).derive(AUDIT_KEY_LABEL))


class Backups:
    """The backups kept in ``directory``; ``keyring`` answers the keyring that opens a
    store's sealed values now (called for each backup: a KEK rotation adds keys)."""

    def __init__(
        self,
        directory: Path,
        *,
        keyring: Callable[[], Keyring | None] = lambda: None,
        wess_version: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.directory = directory
        self._keyring = keyring
        self._version = wess_version
        self._clock = clock

    async def create(self, store: Store, *, secret_file: Path) -> BackupManifest:
        """Checkpoint ``store``, verify the checkpoint, and keep it as a new backup.
        Backups of one directory are taken one at a time, across processes (a lock
        file), so ``prune`` can tell an abandoned ``.partial`` from one being written."""
        await asyncio.to_thread(make_private, self.directory)
        lock = await asyncio.to_thread(_lock, self.directory, wait=True)
        assert lock is not None  # waited for
        try:
            return await self._create(store, secret_file=secret_file)
        finally:
            os.close(lock)

    async def _create(self, store: Store, *, secret_file: Path) -> BackupManifest:
        started = time.monotonic()
        now = self._clock()
        backup_id = f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        partial = self.directory / f".{backup_id}{PARTIAL}"
        partial.mkdir(mode=0o700)
        try:
            await store.admin.checkpoint(str(partial / DB))
            secret = await asyncio.to_thread(secret_file.read_bytes)
            await asyncio.to_thread(write_file, partial / SECRET, secret, mode=0o600)
            content = await self._content(partial, secret)
            if content.damaged or content.audit_chain != "intact":
                raise IntegrityError(
                    "the checkpoint does not read back whole ("
                    + "; ".join([*content.damaged[:3], f"audit chain {content.audit_chain}"])
                    + "): run `wess verify` on the store"
                )
            files = await asyncio.to_thread(file_digests, partial)
            manifest = BackupManifest(
                id=backup_id,
                created_at=now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                duration_seconds=round(time.monotonic() - started, 3),
                wess=self._version,
                store_format=FORMAT.decode(),
                audit_chain=audit_key_of(secret).chain,
                content=content,
                files=files,
            )
            await asyncio.to_thread(self._seal, partial, manifest)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, partial, True)
            raise
        return manifest

    def list(self) -> list[BackupManifest]:
        """Every finished backup, oldest first (unreadable manifests are skipped)."""
        found = []
        if not self.directory.is_dir():
            return []
        for entry in self.directory.iterdir():
            if entry.name.startswith(".") or not (entry / MANIFEST).is_file():
                continue
            try:
                found.append(self.manifest(entry.name))
            except (WessError, OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(found, key=lambda manifest: (manifest.created_at, manifest.id))

    def manifest(self, backup_id: str) -> BackupManifest:
        document = json.loads((self.directory / backup_id / MANIFEST).read_text())
        return BackupManifest.from_dict(document)

    def resolve(self, name: str) -> BackupManifest:
        """The backup ``name`` names: its id, a unique prefix of it, or ``latest``."""
        backups = self.list()
        if name == LATEST and backups:
            return backups[-1]
        matches = [manifest for manifest in backups if manifest.id.startswith(name)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise BackupNotFound(f"no backup {name!r} in {self.directory}; `wess backup list`")
        ids = ", ".join(manifest.id for manifest in matches[:5])
        raise BackupNotFound(f"{name!r} names {len(matches)} backups ({ids}); give more of it")

    def path(self, manifest: BackupManifest) -> Path:
        return self.directory / manifest.id

    async def verify(self, manifest: BackupManifest) -> Verification:
        """Hash the backup's files and read its store again; compare with the manifest."""
        root = self.path(manifest)
        files = await asyncio.to_thread(file_digests, root)
        unreadable: list[str] = []
        try:
            secret = await asyncio.to_thread((root / SECRET).read_bytes)
            content: Content | None = await self._content(root, secret)
        except (WessError, OSError, ValueError) as exc:
            content = None
            unreadable.append(f"the backup's store cannot be read: {exc}")
        return Verification(manifest, (*differences(manifest, files, content), *unreadable))

    def prune(self, *, keep: int, dry_run: bool = False) -> builtins.list[str]:
        """Remove all but the newest ``keep`` backups, and unfinished ones (unless a
        backup is being taken meanwhile: its ``.partial`` stays); the ids removed."""
        if keep < 1:
            raise ConfigError("keep at least one backup")
        backups = self.list()
        doomed = [manifest.id for manifest in backups[: max(0, len(backups) - keep)]]
        if not self.directory.is_dir():
            return doomed
        lock = _lock(self.directory, wait=False)
        try:
            unfinished = (
                []
                if lock is None
                else [e.name for e in self.directory.iterdir() if e.name.endswith(PARTIAL)]
            )
            if not dry_run:
                for name in [*doomed, *unfinished]:
                    shutil.rmtree(self.directory / name)
                sync_directory(self.directory)
        finally:
            if lock is not None:
                os.close(lock)
        return [*doomed, *unfinished]

    async def _content(self, root: Path, secret: bytes) -> Content:
        url = f"rocksdb:{root / DB}"
        keyring = await asyncio.to_thread(self._keyring)
        async with open_store(url, keyring=keyring, read_only=True) as store:
            return await summarize(store, audit_key=audit_key_of(secret))

    def _seal(self, partial: Path, manifest: BackupManifest) -> None:
        document = json.dumps(manifest.to_dict(), indent=2).encode()
        write_file(partial / MANIFEST, document, mode=0o600)
        for directory in [partial / DB, partial]:
            sync_directory(directory)
        os.replace(partial, self.path(manifest))
        sync_directory(self.directory)


def _lock(directory: Path, *, wait: bool) -> int | None:
    """An open descriptor holding ``directory``'s backup lock (closing it releases the
    lock); None when ``wait`` is false and another holds it."""
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass(frozen=True, slots=True)
class StoreBackups:
    """A server's own backups: of its store, with its secret, kept to ``retention``."""

    backups: Backups
    store: Store
    secret_file: Path
    retention: int

    async def create(self) -> BackupManifest:
        return await self.backups.create(self.store, secret_file=self.secret_file)

    def list(self) -> builtins.list[BackupManifest]:
        return self.backups.list()

    def prune(self) -> builtins.list[str]:
        return self.backups.prune(keep=self.retention)
