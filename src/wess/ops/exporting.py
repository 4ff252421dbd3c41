"""Exporting a store as a ``wess-export/1`` dump (``dump``), streamed page by page.

Reads through the storage Protocols (any backend, a running server's store or a
stopped one's), a page of ``PAGE`` modules at a time, each module's bytes verified on
read: memory holds one page and one line, never the dump. A module that cannot be read
is left out and named in the manifest's ``skipped``; one deleted meanwhile is simply
not there. An export is not a point-in-time copy of a store that is being written (a
backup is): a module written while it runs may or may not be in it.

``namespace`` keeps one namespace's modules and keys, and its audit entries (an
excerpt of the log, not a chain); ``since`` keeps modules updated and keys created
at or after it, and the audit log from its first entry at or after it on (a run of
the chain, which an import can append to a log that holds the entries before it).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from wess.errors import StorageError
from wess.ops.dump import (
    Header,
    Manifest,
    Skipped,
    audit_line,
    header_line,
    key_line,
    manifest_line,
    module_line,
    revision_line,
)
from wess.storage import Store

PAGE = 100
AUDIT_PAGE = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportOptions:
    namespace: str | None = None
    since: datetime | None = None


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def export_dump(
    store: Store,
    *,
    audit_chain: str,
    wess_version: str,
    options: ExportOptions = ExportOptions(),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AsyncIterator[bytes]:
    """The dump of ``store``, line by line (each ending with a newline)."""
    digest = hashlib.sha256()
    counts = {"modules": 0, "keys": 0, "audit": 0}
    skipped: list[Skipped] = []
    wasm_bytes = 0

    def emit(line: bytes) -> bytes:
        digest.update(line)
        return line

    since = options.since
    yield emit(
        header_line(
            Header(
                created_at=utc_text(now()),
                wess=wess_version,
                audit_chain=audit_chain,
                namespace=options.namespace,
                since=None if since is None else utc_text(since),
            )
        )
    )
    after = None
    while page := await store.modules.list(namespace=options.namespace, after=after, limit=PAGE):
        for info in page:
            if since is not None and info.updated_at < since:
                continue
            try:
                record = await store.modules.get(info.id)
            except StorageError as exc:
                skipped.append(Skipped("module", str(info.id), exc.detail))
                continue
            if record is None:  # deleted since the page was read
                continue
            counts["modules"] += 1
            wasm_bytes += record.info.size
            yield emit(module_line(record))
            for ref in record.info.retained[:-1]:  # older revisions, oldest first
                try:
                    revision = await store.modules.get_revision(info.id, ref.number)
                except StorageError as exc:
                    skipped.append(Skipped("revision", f"{info.id}@{ref.number}", exc.detail))
                    continue
                if revision is not None:
                    counts["revisions"] = counts.get("revisions", 0) + 1
                    yield emit(revision_line(revision))
        after = page[-1].id
    for key in await store.keys.list():
        if options.namespace is not None and key.namespace != options.namespace:
            continue
        if since is not None and key.created_at < since:
            continue
        counts["keys"] += 1
        yield emit(key_line(key))
    started = since is None
    cursor = 0
    while entries := await store.audit.list(after=cursor, limit=AUDIT_PAGE):
        for entry in entries:
            started = started or (since is not None and _time(entry.time) >= since)
            if not started:
                continue
            if options.namespace is not None and entry.namespace != options.namespace:
                continue
            counts["audit"] += 1
            yield emit(audit_line(entry))
        cursor = entries[-1].seq
    yield manifest_line(
        Manifest(
            counts=counts,
            wasm_bytes=wasm_bytes,
            sha256=digest.hexdigest(),
            skipped=tuple(skipped),
        )
    )


def _time(text: str) -> datetime:
    """An audit entry's time (RFC 3339, ``Z``) as a datetime."""
    return datetime.fromisoformat(text)
