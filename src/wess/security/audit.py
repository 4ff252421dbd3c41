"""A tamper-evident audit trail: a keyed hash chain, anchored outside the store.

Each entry carries ``prev_hash``, the hash of the one before it (``GENESIS`` for the
first), and its own ``hash = HMAC-SHA256(k, canonical(entry without hash))``, where
``canonical`` is sorted-key, compact JSON in UTF-8 and ``k`` an ``AuditKey`` derived
from the server secret. Changing, removing or reordering any entry breaks the chain at
that entry; and since computing a hash takes the key, someone who can write the store
but does not hold the secret cannot rewrite an entry and re-chain the rest.

Removing entries from the *end* leaves a valid shorter chain: the ``Anchor`` (the last
entry's sequence number and hash, MACed with the key and written outside the store,
``security.anchor``) detects that, and ``verify`` reports the head it checked, to be
compared with a copy kept elsewhere.

Entries written before the chain was keyed carry ``chain = "sha256"`` and a plain
SHA-256 (``legacy_hash``). They are re-chained under the key once, when a server of this
version first opens the store, after their plain chain verified; from then on an entry
without the key's MAC is a break (``UNKEYED``): a log re-chained by someone without the
key, even as a whole, never verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from wess.models import UNKEYED_CHAIN, AuditEntry, AuditFields

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""
AUDIT_KEY_LABEL = "audit-log"
"""The ``ServerSecret.derive`` label of the key the chain is MACed with."""
KEYED = "hmac-sha256"
FIELD_MAX = {"actor": 160, "namespace": 96, "action": 64, "target": 256, "outcome": 64}
FIELD_MAX_DEFAULT = 96
"""Longest value of an audited text field: longer ones are cut, with a marker, so no
request can make one entry large (a 64 KB path used to become a 64 KB target)."""
CUT = "…[+{more} chars]"


class AuditKey:
    """The key the chain is MACed with; its ``id`` names it in every entry (``chain``)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("an audit key has at least 32 bytes")
        self._key = key
        self.id = "ak-" + hashlib.sha256(b"wess/audit-key-id\x00" + key).hexdigest()[:16]
        self.chain = f"{KEYED}:{self.id}"

    def mac(self, data: bytes) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()


def canonical(fields: Mapping[str, Any]) -> bytes:
    """Sorted-key, compact JSON in UTF-8: the bytes that are hashed."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def entry_hash(entry: AuditEntry, key: AuditKey) -> str | None:
    """The hash ``entry`` should carry, from all its other fields; None when it was not
    MACed under ``key`` (another key, or none: it cannot be trusted here)."""
    if entry.chain != key.chain:
        return None
    fields = entry.to_dict()
    del fields["hash"]
    return key.mac(canonical(fields))


def legacy_hash(entry: AuditEntry) -> str:
    """The plain SHA-256 an entry written before the chain was keyed carries."""
    fields = entry.to_dict()
    del fields["hash"], fields["chain"], fields["count"]
    return hashlib.sha256(canonical(fields)).hexdigest()


def bounded(fields: AuditFields) -> AuditFields:
    """``fields`` with every text value cut to its ``FIELD_MAX`` (marked, never silent)."""
    changes: dict[str, Any] = {}
    for name, value in asdict(fields).items():
        if not isinstance(value, str) or name == "time":
            continue
        limit = FIELD_MAX.get(name, FIELD_MAX_DEFAULT)
        if len(value) > limit:
            changes[name] = value[:limit] + CUT.format(more=len(value) - limit)
    return replace(fields, **changes) if changes else fields


def chain(prev: AuditEntry | None, fields: AuditFields, *, key: AuditKey) -> AuditEntry:
    """The entry that follows ``prev`` (None: the first entry) with ``fields`` (bounded),
    MACed under ``key``."""
    draft = AuditEntry(
        seq=1 if prev is None else prev.seq + 1,
        prev_hash=GENESIS if prev is None else prev.hash,
        hash="",
        chain=key.chain,
        **asdict(bounded(fields)),
    )
    digest = entry_hash(draft, key)
    assert digest is not None  # the draft is under ``key``
    return replace(draft, hash=digest)


class Break(StrEnum):
    ALTERED = "altered"
    """The entry's hash does not match its contents."""
    GAP = "gap"
    """The entry's sequence number is not the next one: removed, reordered or repeated."""
    UNLINKED = "unlinked"
    """``prev_hash`` is not the previous entry's hash: the previous one was replaced."""
    FOREIGN_KEY = "foreign_key"
    """The entry was MACed under a key this server does not hold."""
    UNKEYED = "unkeyed"
    """The entry carries a plain hash, no MAC: written or rewritten without the key."""
    TRUNCATED = "truncated"
    """The chain ends before the anchored head: entries were removed from the end."""
    ANCHOR_MISMATCH = "anchor_mismatch"
    """The entry the anchor names carries another hash: the log was rewritten."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """The head of the chain as last recorded outside the store."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    """How many entries verified before the break (all of them if ``ok``)."""
    broken_at: int | None = None
    """The first sequence number whose entry is missing or cannot be trusted."""
    reason: Break | None = None
    head: Anchor | None = None
    """The last entry that verified (its sequence number and hash)."""


class ChainCheck:
    """Verifies a chain fed in pages (``feed``), in order, then ``result``: the whole
    log need not be in memory at once."""

    def __init__(
        self, *, key: AuditKey, after: AuditEntry | None = None, anchor: Anchor | None = None
    ) -> None:
        self._key = key
        self._anchor = anchor
        self._seq = 1 if after is None else after.seq + 1
        self._prev = GENESIS if after is None else after.hash
        self._checked = 0
        self._head = None if after is None else Anchor(after.seq, after.hash)
        self._broken: VerifyResult | None = None

    @property
    def broken(self) -> bool:
        return self._broken is not None

    def feed(self, entries: Iterable[AuditEntry]) -> None:
        """Check ``entries``, which continue those fed before; stops at the first break."""
        for entry in entries:
            if self._broken is not None:
                return
            problem = self._problem(entry)
            if problem is not None:
                self._broken = self._result(False, self._seq, problem)
                return
            self._checked += 1
            self._seq, self._prev = entry.seq + 1, entry.hash
            self._head = Anchor(entry.seq, entry.hash)

    def result(self) -> VerifyResult:
        """The verdict on everything fed (a truncation shows only now)."""
        if self._broken is not None:
            return self._broken
        anchor = self._anchor
        if anchor is not None and (self._head is None or self._head.seq < anchor.seq):
            return self._result(False, self._seq, Break.TRUNCATED)
        return self._result(True, None, None)

    def _problem(self, entry: AuditEntry) -> Break | None:
        if entry.seq != self._seq:
            return Break.GAP
        if entry.prev_hash != self._prev:
            return Break.UNLINKED
        expected = entry_hash(entry, self._key)
        if expected is None:
            return Break.UNKEYED if entry.chain == UNKEYED_CHAIN else Break.FOREIGN_KEY
        # bytes, not str: a tampered hash may hold any character
        if not isinstance(entry.hash, str) or not hmac.compare_digest(
            entry.hash.encode(), expected.encode()
        ):
            return Break.ALTERED
        anchor = self._anchor
        if anchor is not None and entry.seq == anchor.seq and entry.hash != anchor.hash:
            return Break.ANCHOR_MISMATCH
        return None

    def _result(self, ok: bool, broken_at: int | None, reason: Break | None) -> VerifyResult:
        return VerifyResult(ok, self._checked, broken_at, reason, head=self._head)


def verify(
    entries: Iterable[AuditEntry],
    *,
    key: AuditKey,
    after: AuditEntry | None = None,
    anchor: Anchor | None = None,
) -> VerifyResult:
    """Check that ``entries`` form an unbroken chain under ``key``.

    ``after`` is a trusted entry that precedes them (None: they start at the first
    entry); ``anchor`` is the head recorded outside the store: the chain must reach it,
    and hold the same hash there.
    """
    check = ChainCheck(key=key, after=after, anchor=anchor)
    check.feed(entries)
    return check.result()
