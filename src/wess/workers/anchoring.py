"""Keeping the audit log's anchor: its head, written outside the store.

``check_anchor`` runs once before the Writer starts: the store's log must reach the
anchored head with the same hash, or start-up stops (entries were removed or rewritten;
a store restored from an older backup on purpose needs its anchor moved away first).
``AnchorKeeper`` then records the committed head every ``interval`` seconds when it
moved, and once more at shutdown, off the event loop (the write is synced). A crash
loses at most the last interval's anchoring: entries committed in it are not yet pinned
against truncation, the rest are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from wess.errors import IntegrityError
from wess.models import AuditEntry
from wess.security.anchor import AnchorFile
from wess.security.audit import Anchor
from wess.storage import AuditStore
from wess.workers.periodic import PeriodicFlush

logger = structlog.get_logger(__name__)


async def check_anchor(audit: AuditStore, anchor_file: AnchorFile) -> Anchor | None:
    """The anchored head, after checking the store's log still holds it; raises
    ``IntegrityError`` naming what was found and the commands that help."""
    anchor = await asyncio.to_thread(anchor_file.read)
    if anchor is None:
        return None
    found = await audit.list(after=anchor.seq - 1, limit=1)
    entry = found[0] if found and found[0].seq == anchor.seq else None
    if entry is None or entry.hash != anchor.hash:
        head = await audit.head()
        what = (
            f"ends at entry {head.seq if head else 0}"
            if entry is None
            else f"holds another entry {anchor.seq}"
        )
        raise IntegrityError(
            f"the audit log {what}, but its anchor {anchor_file.path} names entry "
            f"{anchor.seq} ({anchor.hash[:16]}...): entries were removed or rewritten. "
            "Check it with `wess audit verify --data-dir <dir>`; if the store was restored "
            "from an older backup on purpose, move the anchor file away to start.",
            seq=anchor.seq,
        )
    return anchor


class AnchorKeeper(PeriodicFlush):
    """Writes ``head()`` (the Writer's committed audit head) to ``anchor_file`` when it
    moved: every ``interval`` seconds and at exit."""

    name = "wess-audit-anchor"

    def __init__(
        self,
        anchor_file: AnchorFile,
        head: Callable[[], AuditEntry | None],
        *,
        interval: float = 1.0,
        anchored: Anchor | None = None,
    ) -> None:
        super().__init__(interval=interval)
        self._file = anchor_file
        self._head = head
        self._anchored = anchored

    @property
    def anchored(self) -> Anchor | None:
        """The head last written."""
        return self._anchored

    async def flush(self) -> None:
        entry = self._head()
        if entry is None:
            return
        anchor = Anchor(entry.seq, entry.hash)
        if anchor == self._anchored:
            return
        try:
            await asyncio.to_thread(self._file.write, anchor)
        except OSError as exc:  # the log itself is safe; only its anchor lags
            logger.error("audit anchor not written", path=str(self._file.path), error=str(exc))
            return
        self._anchored = anchor
