"""A tamper-evident audit trail: each entry carries the hash of the one before it.

``hash = sha256(canonical(entry without hash))`` where ``canonical`` is sorted-key,
compact JSON in UTF-8, and ``prev_hash`` is the previous entry's hash (``GENESIS``
for the first). Changing, removing or reordering any entry breaks the chain at that
entry, and ``verify`` names the first sequence number that cannot be trusted.

Removing entries from the *end* leaves a valid shorter chain: only a head kept
elsewhere (``verify(..., head=...)``: the last hash, written to a second place)
detects that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from wess.models import AuditEntry, AuditFields

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""


def canonical(fields: Mapping[str, Any]) -> bytes:
    """Sorted-key, compact JSON in UTF-8: the bytes that are hashed."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def entry_hash(entry: AuditEntry) -> str:
    """The hash ``entry`` should carry, computed from all its other fields."""
    fields = entry.to_dict()
    del fields["hash"]
    return hashlib.sha256(canonical(fields)).hexdigest()


def chain(prev: AuditEntry | None, fields: AuditFields) -> AuditEntry:
    """The entry that follows ``prev`` (None: the first entry) with ``fields``."""
    draft = AuditEntry(
        seq=1 if prev is None else prev.seq + 1,
        prev_hash=GENESIS if prev is None else prev.hash,
        hash="",
        **asdict(fields),
    )
    return AuditEntry(**{**draft.to_dict(), "hash": entry_hash(draft)})


class Break(StrEnum):
    ALTERED = "altered"
    """The entry's hash does not match its contents."""
    GAP = "gap"
    """The entry's sequence number is not the next one: removed, reordered or repeated."""
    UNLINKED = "unlinked"
    """``prev_hash`` is not the previous entry's hash: the previous one was replaced."""
    TRUNCATED = "truncated"
    """The chain ends before the expected head: entries were removed from the end."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    """How many entries verified before the break (all of them if ``ok``)."""
    broken_at: int | None = None
    """The first sequence number whose entry is missing or cannot be trusted."""
    reason: Break | None = None


def verify(
    entries: Sequence[AuditEntry], *, after: AuditEntry | None = None, head: str | None = None
) -> VerifyResult:
    """Check that ``entries`` form an unbroken chain.

    ``after`` is a trusted entry that precedes them (None: they start at the first
    entry); ``head`` is the hash the last entry must carry, when it is kept elsewhere.
    """
    expected_seq = 1 if after is None else after.seq + 1
    expected_prev = GENESIS if after is None else after.hash
    for index, entry in enumerate(entries):
        problem = None
        if entry.seq != expected_seq:
            problem = Break.GAP
        elif entry.prev_hash != expected_prev:
            problem = Break.UNLINKED
        elif entry.hash != entry_hash(entry):
            problem = Break.ALTERED
        if problem is not None:
            return VerifyResult(False, index, expected_seq, problem)
        expected_seq, expected_prev = entry.seq + 1, entry.hash
    if head is not None and head != expected_prev:
        return VerifyResult(False, len(entries), expected_seq, Break.TRUNCATED)
    return VerifyResult(True, len(entries))
