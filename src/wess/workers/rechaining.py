"""Re-chaining an audit log written before the chain was keyed, once, under the key.

A store written by an earlier Wess holds entries hashed with plain SHA-256. When a
server of this version first opens it, ``rechain_unkeyed`` checks that plain chain,
then MACs every entry under the audit key in ONE atomic commit (a crash leaves the old
log or the new one), keeping each entry's fields and sequence number. From then on an
unkeyed entry never verifies. It runs after ``check_anchor`` and before the Writer
starts: an anchor that no longer matches stops start-up before anything is re-chained,
so a log converted back to plain hashes by someone without the key is never blessed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import structlog

from wess.errors import IntegrityError
from wess.models import UNKEYED_CHAIN, AuditEntry, AuditFields
from wess.security.audit import GENESIS, AuditKey, chain, legacy_hash
from wess.storage import AuditStore, Change, RewriteAudit

logger = structlog.get_logger(__name__)

PAGE = 1000


async def rechain_unkeyed(
    audit: AuditStore, commit: Callable[[Sequence[Change]], Awaitable[None]], key: AuditKey
) -> int:
    """Re-chain the log under ``key`` if it was written unkeyed; how many entries were.

    ``IntegrityError`` if the plain chain is already broken: nothing is changed, and
    start-up stops rather than seal a tampered history under the key.
    """
    first = await audit.list(after=0, limit=1)
    if not first or first[0].chain != UNKEYED_CHAIN:
        return 0  # empty, or keyed from its first entry on (re-chaining is all or nothing)
    entries: list[AuditEntry] = []
    while batch := await audit.list(after=entries[-1].seq if entries else 0, limit=PAGE):
        entries += batch
    _check_plain_chain(entries)
    rechained: list[AuditEntry] = []
    for entry in entries:
        fields = AuditFields(
            time=entry.time,
            actor=entry.actor,
            namespace=entry.namespace,
            action=entry.action,
            target=entry.target,
            outcome=entry.outcome,
            request_id=entry.request_id,
            client_ip=entry.client_ip,
            count=entry.count,
        )
        rechained.append(chain(rechained[-1] if rechained else None, fields, key=key))
    await commit([RewriteAudit(entry) for entry in rechained])
    logger.info("audit log re-chained under the audit key", entries=len(rechained))
    return len(rechained)


def _check_plain_chain(entries: Sequence[AuditEntry]) -> None:
    expected_seq, expected_prev = 1, GENESIS
    for entry in entries:
        if (
            entry.chain != UNKEYED_CHAIN
            or entry.seq != expected_seq
            or entry.prev_hash != expected_prev
            or entry.hash != legacy_hash(entry)
        ):
            raise IntegrityError(
                f"the audit log written before this version is broken at entry {expected_seq}; "
                "it was not re-chained under the audit key. Inspect it (GET /v1/audit on a "
                "server of the version that wrote it) before starting this one.",
                seq=expected_seq,
            )
        expected_seq, expected_prev = entry.seq + 1, entry.hash
