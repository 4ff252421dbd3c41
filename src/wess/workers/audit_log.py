"""What the Writer writes in the audit log: one entry per job that names an actor.

``audit_fields`` says what a job's entry holds (the action, its target, and the outcome:
``ok`` or the code of the error that refused it). ``AuditChain`` keeps the last entry
written (its hash is the next entry's ``prev_hash``) and chains a batch's entries in
commit order; its head moves only once they are committed, so a failed commit leaves
no gap in the chain. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from wess.messages import Actor, CreateApiKey, RecordAudit, RevokeApiKey, RotateKek, WriteJob
from wess.models import AuditEntry, AuditFields
from wess.security.audit import AuditKey, chain

OK = "ok"

ACTIONS = {
    "create": "module.create",
    "update": "module.update",
    "delete": "module.delete",
    "set_alias": "module.alias.set",
    "remove_alias": "module.alias.remove",
    "create_key": "key.create",
    "revoke_key": "key.revoke",
    "rotate_kek": "kek.rotate",
}
"""Job kind -> audit action, for every job kind that carries an actor."""


def timestamp(now: datetime) -> str:
    """RFC 3339 in UTC with microseconds: ``2026-01-31T12:00:00.000000Z``."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_fields(
    job: WriteJob,
    *,
    outcome: str,
    now: datetime,
    namespace: str | None = None,
    target: str | None = None,
) -> AuditFields | None:
    """The entry ``job`` gets, or None for Wess's own housekeeping (no actor).

    ``namespace`` and ``target`` default to what the job names; a revoke passes the
    namespace of the key it found, a rotation the KEK and the count.
    """
    if isinstance(job, RecordAudit):
        return job.fields
    actor: Actor | None = getattr(job, "actor", None)
    if actor is None:
        return None
    if namespace is None:
        namespace = job.key.namespace if isinstance(job, CreateApiKey) else None
        namespace = getattr(job, "namespace", namespace)
    if target is None:
        target = _target(job)
    return AuditFields(
        time=timestamp(now),
        actor=actor.name,
        namespace=namespace,
        action=ACTIONS[job.kind],
        target=target,
        outcome=outcome,
        request_id=getattr(job, "request_id", None),
        client_ip=actor.client_ip,
    )


def _target(job: WriteJob) -> str | None:
    if isinstance(job, CreateApiKey):
        return job.key.id
    if isinstance(job, RevokeApiKey):
        return job.key_id
    if isinstance(job, RotateKek):
        return job.kek_id
    module_id = getattr(job, "module_id", None)
    alias = getattr(job, "alias", None)
    if module_id is not None and alias is not None:
        return f"{module_id}@{alias}"
    return None if module_id is None else str(module_id)


class AuditChain:
    """The head of the audit log as committed, and the entries that would follow it,
    MACed under ``key``."""

    def __init__(self, head: AuditEntry | None, *, key: AuditKey) -> None:
        self._head = head
        self._key = key

    @property
    def head(self) -> AuditEntry | None:
        return self._head

    def extend(self, fields: Sequence[AuditFields]) -> list[AuditEntry]:
        """Entries for ``fields``, chained in order after the head (which does not move)."""
        entries: list[AuditEntry] = []
        previous = self._head
        for item in fields:
            previous = chain(previous, item, key=self._key)
            entries.append(previous)
        return entries

    def advance(self, entries: Sequence[AuditEntry]) -> None:
        """``entries`` (from ``extend``) are committed: the last one is the head now."""
        if entries:
            self._head = entries[-1]
