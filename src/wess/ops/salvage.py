"""Salvage: copy every intact record of a damaged store into a new one.

Reads through the storage Protocols of the damaged store (damaged blocks are stepped
over, damaged records refused by their checks) and commits what reads back whole into
the target: modules (metadata and verified bytes), API keys, usage counts and audit
entries (their sequence numbers kept, so the holes stay visible to ``wess audit
verify``). AOT artifacts are not copied: they are rebuilt from the modules on first
use. The report says what was copied and what was lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wess.errors import StorageError
from wess.models import ModuleRecord
from wess.storage import (
    AddUsage,
    AppendAudit,
    Change,
    PutApiKey,
    PutModule,
    PutRevision,
    Store,
)

PAGE = 200


@dataclass
class SalvageReport:
    copied: dict[str, int] = field(
        default_factory=lambda: {"modules": 0, "keys": 0, "audit": 0, "usage": 0}
    )
    lost: list[str] = field(default_factory=list)
    """The records that could not be read (named as far as their id could be)."""
    skipped: dict[str, Any] = field(default_factory=dict)
    """The damaged store's own report of the ranges it had to step over."""

    def to_dict(self) -> dict[str, Any]:
        return {"copied": self.copied, "lost": self.lost, "skipped": self.skipped}


async def _revisions(source: Store, record: ModuleRecord, report: SalvageReport) -> list[Change]:
    """The module's retained revisions that read back intact (a lost one is reported:
    runs of it answer revision_not_found)."""
    kept: list[Change] = []
    for ref in record.info.retained:
        try:
            revision = await source.modules.get_revision(record.id, ref.number)
        except StorageError as exc:
            report.lost.append(f"module {record.id} revision {ref.number}: {exc.detail}")
            continue
        if revision is not None:
            kept.append(PutRevision(revision))
    return kept


async def salvage(source: Store, target: Store) -> SalvageReport:
    """Copy what is intact in ``source`` into ``target`` (which should be new)."""
    report = SalvageReport()
    after = None
    while page := await source.modules.list(namespace=None, after=after, limit=PAGE):
        records: list[Change] = []
        copied = 0
        for info in page:
            try:
                record = await source.modules.get(info.id)
            except StorageError as exc:
                report.lost.append(f"module {info.id}: {exc.detail}")
                continue
            if record is not None:
                records.append(PutModule(record))
                records.extend(await _revisions(source, record, report))
                copied += 1
        await target.commit(records)
        report.copied["modules"] += copied
        after = page[-1].id
    keys = await source.keys.list()
    await target.commit([PutApiKey(key) for key in keys])
    report.copied["keys"] = len(keys)
    audit_after = 0
    while entries := await source.audit.list(after=audit_after, limit=PAGE):
        await target.commit([AppendAudit(entry) for entry in entries])
        report.copied["audit"] += len(entries)
        audit_after = entries[-1].seq
    usage = await source.usage.most_used(1 << 62)
    await target.commit([AddUsage(tuple(usage))])
    report.copied["usage"] = len(usage)
    report.skipped = source.admin.damage().to_dict()
    return report
