"""The Writer's occasional jobs, each outside the batches: re-wrapping every stored value
under a new key-encryption key, and importing records; with how a failed commit and a
change are reported, which the batches share. A base class of ``Writer``, which holds
the state declared here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from wess.errors import ConfigError
from wess.messages import ApiKeyChanged, ImportRecords, ImportResult, ModuleChanged, RotateKek
from wess.security.audit import AuditKey
from wess.security.crypto import Keyring
from wess.storage import AppendAudit, Change, Store, StoreView
from wess.workers.audit_log import OK, AuditChain, audit_fields
from wess.workers.importing import ImportPlan, plan_import
from wess.workers.inflight import Pending, fail, notify
from wess.workers.quotas import QuotaLedger

logger = structlog.get_logger("wess.workers.writer")


class OccasionalJobs:
    _store: Store
    _audit: AuditChain
    _audit_key: AuditKey
    _clock: Callable[[], datetime]
    _ledger: QuotaLedger | None
    _keyrings: Callable[[str], Keyring] | None
    _listeners: list[Callable[[ModuleChanged], None]]
    _key_listeners: list[Callable[[ApiKeyChanged], None]]
    _stale: bool

    async def _rotate(self, pending: Pending, job: RotateKek) -> None:
        """Rewrap every stored value under the new KEK, then record it in the audit log
        (a refused rotation is recorded by the request that asked for it)."""
        try:
            count = await self._store.admin.rewrap(self._keyring_for(job.kek_id))
        except Exception as exc:
            logger.error("kek_rotation_failed", kek_id=job.kek_id, error=str(exc))
            fail(pending, exc)
            return
        target = f"{job.kek_id} rewrapped={count}"
        fields = audit_fields(job, outcome=OK, now=self._clock(), target=target)
        assert fields is not None  # a RotateKek always names its actor
        entries = self._audit.extend([fields])
        try:
            await self._store.commit([AppendAudit(entries[0])])
        except Exception as exc:
            self._commit_failed(exc, 1)
            fail(pending, exc)
            return
        self._audit.advance(entries)
        logger.info(f"ROTATE_KEK {job.kek_id}", rewrapped=count, request_id=job.request_id)
        if not pending.future.done():
            pending.future.set_result(count)

    async def _import(self, pending: Pending, job: ImportRecords) -> None:
        """Check every record of an import against the store (``importing``) and commit
        the ones it takes in ONE ``transact``; then publish their changes."""
        usage = self._ledger.draft() if self._ledger is not None else None
        head = self._audit.head
        planned: list[ImportPlan] = []

        def check(store: StoreView) -> list[Change]:
            modules = store.get_infos([record.info.id for record in job.modules])
            keys = {key.id: store.get_api_key(key.id) for key in job.keys}
            plan = plan_import(
                job, modules=modules, keys=keys, head=head, audit_key=self._audit_key, usage=usage
            )
            planned.append(plan)
            return plan.changes

        try:
            await self._store.transact(check)
        except Exception as exc:
            self._commit_failed(exc, 1)
            fail(pending, exc)
            return
        plan = planned[0]
        self._audit.advance(plan.entries)
        if self._ledger is not None and usage is not None:
            self._ledger.merge(usage)
        for event in plan.events:
            self._publish(event)
        logger.info(
            "IMPORT_RECORDS",
            modules=len(job.modules),
            keys=len(job.keys),
            audit=len(plan.entries),
        )
        if not pending.future.done():
            pending.future.set_result(
                ImportResult(outcomes=tuple(plan.outcomes), audit_appended=len(plan.entries))
            )

    def _keyring_for(self, kek_id: str) -> Keyring:
        if self._keyrings is None:
            raise ConfigError(
                "encryption at rest is not configured (security.encryption_key_file); "
                "there is no key-encryption key to rotate"
            )
        return self._keyrings(kek_id)

    def _commit_failed(self, exc: Exception, jobs: int) -> None:
        logger.error("writer_commit_failed", jobs=jobs, error=str(exc))
        self._stale = True

    def _publish(self, event: ModuleChanged | ApiKeyChanged) -> None:
        if isinstance(event, ApiKeyChanged):
            notify(self._key_listeners, event, "key_changed_listener_failed")
        else:
            notify(self._listeners, event, "module_changed_listener_failed")
