"""What a backup holds, written beside it (``manifest.json``) and checked against it.

A backup's manifest records when it was taken and by which Wess (its version, the
store's format), what the store held (``Content``: counts, and a SHA-256 over every
module's id, revision and digest, and over every key's id and hash; the audit log's
length, head and whether its chain verified) and the SHA-256 of every file needed to
restore it. ``summarize`` reads the content from a store through its Protocols, each
module's bytes verified; ``file_digests`` hashes the files. Verifying a backup is
doing both again and comparing.

    {"format": "wess-backup/1", "id": "20260131T120000Z-3fa2c1", "created_at": ...,
     "duration_seconds": 0.41, "wess": "0.1.0", "store_format": "wess-rocks/2",
     "audit_chain": "hmac-sha256:ak-...", "content": {...}, "files": [...],
     "size_bytes": 123456}
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wess.errors import IntegrityError, StorageError
from wess.security.audit import AuditKey, ChainCheck
from wess.storage import Store

FORMAT = "wess-backup/1"
MANIFEST = "manifest.json"
PAGE = 200
CHUNK = 1 << 20
NOT_COPIED = ("LOG", "LOCK", "IDENTITY", "rocksdict-config.json")
"""Files RocksDB (or rocksdict) writes even when it opens a directory read-only, or
that a restore does not need: left out of the digests."""


@dataclass(frozen=True, slots=True)
class Content:
    """What a store holds, in a few numbers a copy must match."""

    modules: int = 0
    wasm_bytes: int = 0
    modules_sha256: str = ""
    keys: int = 0
    keys_sha256: str = ""
    audit: int = 0
    audit_head: dict[str, Any] | None = None
    audit_chain: str = "intact"
    usage: int = 0
    damaged: tuple[str, ...] = ()
    """Records that could not be read (named, the first hundred)."""

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["damaged"] = list(self.damaged)
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Content:
        return cls(**{**document, "damaged": tuple(document.get("damaged", ()))})


@dataclass(frozen=True, slots=True)
class FileDigest:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupManifest:
    id: str
    created_at: str
    duration_seconds: float
    wess: str
    store_format: str
    audit_chain: str
    content: Content
    files: tuple[FileDigest, ...] = field(default=())

    @property
    def size_bytes(self) -> int:
        return sum(item.size for item in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "created_at": self.created_at,
            "duration_seconds": round(self.duration_seconds, 3),
            "wess": self.wess,
            "store_format": self.store_format,
            "audit_chain": self.audit_chain,
            "content": self.content.to_dict(),
            "files": [asdict(item) for item in self.files],
            "size_bytes": self.size_bytes,
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> BackupManifest:
        if document.get("format") != FORMAT:
            raise IntegrityError(
                f"the backup manifest is in format {document.get('format')!r}; "
                f"this Wess reads {FORMAT}"
            )
        return cls(
            id=str(document["id"]),
            created_at=str(document["created_at"]),
            duration_seconds=float(document["duration_seconds"]),
            wess=str(document["wess"]),
            store_format=str(document["store_format"]),
            audit_chain=str(document["audit_chain"]),
            content=Content.from_dict(document["content"]),
            files=tuple(FileDigest(**item) for item in document["files"]),
        )


async def summarize(store: Store, *, audit_key: AuditKey) -> Content:
    """Read everything ``store`` holds and sum it up; module bytes are verified on read."""
    damaged: list[str] = []
    modules = hashlib.sha256()
    count = wasm_bytes = 0
    after = None
    while page := await store.modules.list(namespace=None, after=after, limit=PAGE):
        for info in page:
            try:
                record = await store.modules.get(info.id)
            except StorageError as exc:
                damaged.append(f"module {info.id}: {exc.detail}")
                continue
            if record is None:
                continue
            count += 1
            wasm_bytes += record.info.size
            modules.update(f"{info.id} {info.revision} {info.digest}\n".encode())
        after = page[-1].id
    keys = await store.keys.list()
    key_digest = hashlib.sha256()
    for key in keys:
        key_digest.update(f"{key.id} {key.hash}\n".encode())
    check = ChainCheck(key=audit_key)
    entries = 0
    cursor = 0
    while batch := await store.audit.list(after=cursor, limit=PAGE * 5):
        check.feed(batch)
        entries += len(batch)
        cursor = batch[-1].seq
    verdict = check.result()
    head = verdict.head if verdict.ok else None
    chain = "intact" if verdict.ok else f"broken at entry {verdict.broken_at} ({verdict.reason})"
    return Content(
        modules=count,
        wasm_bytes=wasm_bytes,
        modules_sha256=modules.hexdigest(),
        keys=len(keys),
        keys_sha256=key_digest.hexdigest(),
        audit=entries,
        audit_head=None if head is None else {"seq": head.seq, "hash": head.hash},
        audit_chain=chain,
        usage=len(await store.usage.most_used(1 << 62)),
        damaged=tuple(damaged[:100]),
    )


def backup_files(root: Path) -> Iterator[Path]:
    """The files of the backup at ``root`` that a restore needs, in a stable order."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST and not path.name.startswith(NOT_COPIED):
            yield path


def file_digests(root: Path) -> tuple[FileDigest, ...]:
    """The size and SHA-256 of every file of the backup at ``root`` (blocking)."""
    digests = []
    for path in backup_files(root):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        digests.append(
            FileDigest(str(path.relative_to(root)), path.stat().st_size, digest.hexdigest())
        )
    return tuple(digests)


def differences(
    expected: BackupManifest, files: tuple[FileDigest, ...], content: Content | None
) -> list[str]:
    """What a backup's files and content (None: not read) say that its manifest does not
    (empty: whole)."""
    problems: list[str] = []
    recorded = {item.path: item for item in expected.files}
    found = {item.path: item for item in files}
    for path in sorted(recorded.keys() - found.keys()):
        problems.append(f"file {path} is missing")
    for path in sorted(found.keys() - recorded.keys()):
        problems.append(f"file {path} is not in the manifest")
    for path in sorted(recorded.keys() & found.keys()):
        if recorded[path] != found[path]:
            problems.append(f"file {path} changed since the backup was taken")
    found_content = {} if content is None else content.to_dict()
    for name, want in expected.content.to_dict().items() if content is not None else ():
        got = found_content[name]
        if got != want:
            problems.append(f"{name}: the manifest says {want!r}, the backup holds {got!r}")
    return problems
