"""Checking a whole store, record by record, through the storage Protocols.

``verify_store`` reads every module (bytes verified against their digest, sealed values
opened), every API key, usage count and audit entry (and, given the key, checks the
audit chain), and reports what could not be read. It works on any backend, on a store a
server is using (``GET /v1/admin/verify``) or on a stopped one (``wess verify``).
Records a scan had to step over (their block is damaged) are invisible to a listing;
the store's own damage log names those ranges, and the report includes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wess.errors import StorageError
from wess.security.audit import AuditKey, ChainCheck
from wess.storage import Store

PAGE = 500
NAMED = 100
"""How many damaged records a report names (the counts cover them all)."""


@dataclass
class KindReport:
    checked: int = 0
    damaged: int = 0
    names: list[str] = field(default_factory=list)

    def lost(self, name: str) -> None:
        self.damaged += 1
        if len(self.names) < NAMED:
            self.names.append(name)

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "damaged": self.damaged, "names": self.names}


@dataclass
class StoreReport:
    modules: KindReport = field(default_factory=KindReport)
    keys: KindReport = field(default_factory=KindReport)
    audit: KindReport = field(default_factory=KindReport)
    usage: KindReport = field(default_factory=KindReport)
    audit_chain: str | None = None
    """``intact``, or where and why the chain breaks (None: not checked, no key)."""
    skipped: dict[str, Any] = field(default_factory=dict)
    """The store's damage log: key ranges scans stepped over, unreadable records."""

    @property
    def ok(self) -> bool:
        kinds = (self.modules, self.keys, self.audit, self.usage)
        return (
            not any(kind.damaged for kind in kinds)
            and not self.skipped.get("skipped_ranges")
            and not self.skipped.get("unreadable")
            and self.audit_chain in (None, "intact")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "modules": self.modules.to_dict(),
            "keys": self.keys.to_dict(),
            "audit": self.audit.to_dict(),
            "usage": self.usage.to_dict(),
            "audit_chain": self.audit_chain,
            "skipped": self.skipped,
        }


async def verify_store(store: Store, *, audit_key: AuditKey | None = None) -> StoreReport:
    """Read every record of ``store`` and report what could not be read."""
    report = StoreReport()
    await _modules(store, report.modules)
    await _keys(store, report.keys)
    report.audit_chain = await _audit(store, report.audit, audit_key)
    await _usage(store, report.usage)
    report.skipped = store.admin.damage().to_dict()
    return report


async def _modules(store: Store, kind: KindReport) -> None:
    after = None
    while page := await store.modules.list(namespace=None, after=after, limit=PAGE):
        for info in page:
            kind.checked += 1
            try:
                await store.modules.get(info.id)
            except StorageError as exc:
                kind.lost(f"module {info.id}: {exc.detail}")
        after = page[-1].id


async def _keys(store: Store, kind: KindReport) -> None:
    kind.checked = len(await store.keys.list())


async def _audit(store: Store, kind: KindReport, key: AuditKey | None) -> str | None:
    check = None if key is None else ChainCheck(key=key)
    after = 0
    expected = 1
    while batch := await store.audit.list(after=after, limit=PAGE):
        for entry in batch:
            kind.checked += 1
            while expected < entry.seq:  # a hole: entries the store could not read
                kind.lost(f"audit entry {expected}")
                expected += 1
            expected = entry.seq + 1
        if check is not None:
            check.feed(batch)
        after = batch[-1].seq
    if check is None:
        return None
    result = check.result()
    if result.ok:
        return "intact"
    return f"broken at entry {result.broken_at} ({result.reason})"


async def _usage(store: Store, kind: KindReport) -> None:
    kind.checked = len(await store.usage.most_used(1 << 62))
