"""``Writer``: the single consumer of write jobs, committing them in groups.

Every change to the store goes through one bounded queue: creates, updates and deletes,
the artifacts and usage counts the Runner wants kept, API keys, audit-only entries and
key rotations. The consumer takes a job, then whatever else is already waiting (up to
``max_batch``), checks each against the store and the jobs before it (``batch``), and
commits all the valid ones in ONE ``store.commit`` (one fsync for the batch).

Every valid job that names an actor gets exactly one audit entry, in that same commit.
A refused job commits nothing and is answered with its error at once; the request it
came from records the refusal (``auditing.Auditor``), so a request is audited by one
party only. Only after the commit does the Writer publish ``ModuleChanged`` and
``ApiKeyChanged`` and answer the callers. A
``RotateKek`` runs between batches: the jobs before it commit first, those after it
wait. A full queue answers ``Overloaded`` at once instead of letting callers pile up.

Every acknowledged write pays for the consumer's path, so it works per batch where it
can: the batch's reads (every module it names, in one multi-get), its checks and its
commit run as ONE ``store.transact`` (for RocksDB one thread hop, where a read per
job used to cost a hop each); the queue is a plain deque drained in one go, and each
caller waits on its own future, nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TypeVar, overload

import structlog

from wess.errors import (
    ConfigError,
    InvalidRequest,
    Overloaded,
    StorageError,
    StorageUnavailable,
)
from wess.messages import (
    MESSAGE_VERSION,
    ApiKeyChanged,
    CreateApiKey,
    ImportRecords,
    ImportResult,
    ModuleChanged,
    ModuleJob,
    RecordAudit,
    RecordUsage,
    RevokeApiKey,
    RotateKek,
    TouchApiKeys,
    WriteJob,
)
from wess.models import AuditEntry, ModuleInfo
from wess.observability.metrics import Metrics
from wess.observability.tracing import Tracing
from wess.security.audit import AuditKey
from wess.security.crypto import Keyring
from wess.storage import AppendAudit, Change, Store, StoreView
from wess.workers.audit_log import OK, AuditChain, audit_fields
from wess.workers.batch import CHARGED, MODULE_JOBS, BatchJob, BatchPlan, Step, changes_of
from wess.workers.importing import ImportPlan, plan_import
from wess.workers.planning import DEFAULT_REVISIONS_KEPT
from wess.workers.quotas import NamespaceQuotas, QuotaLedger

logger = structlog.get_logger(__name__)

QUEUE = "writer"
E = TypeVar("E", ModuleChanged, ApiKeyChanged)
Listener = Callable[[ModuleChanged], None]
KeyListener = Callable[[ApiKeyChanged], None]
Result = ModuleInfo | int | ImportResult | None
"""What ``submit`` answers: the module's info (None after a delete and for jobs that
are not about a module), the number of values a rotation rewrapped, or what an import
did with each record."""


def utc_now() -> datetime:
    """The current time in UTC: the Writer's default clock."""
    return datetime.now(UTC)


@dataclass(slots=True)
class _Pending:
    job: WriteJob
    future: asyncio.Future[Result] = field(repr=False)


class Writer:
    """Serialises every write through one consumer task; see the module docstring.

    ``quotas`` (None: unlimited) are checked against the usage read once, when the
    Writer starts, and kept current as batches commit; so is the head of the audit log.
    """

    def __init__(
        self,
        store: Store,
        *,
        metrics: Metrics,
        queue_size: int = 1024,
        max_batch: int = 256,
        clock: Callable[[], datetime] = utc_now,
        audit_key: AuditKey,
        quotas: NamespaceQuotas | None = None,
        keyrings: Callable[[str], Keyring] | None = None,
        tracing: Tracing | None = None,
        revisions_kept: int = DEFAULT_REVISIONS_KEPT,
    ) -> None:
        if queue_size < 1 or max_batch < 1:
            raise ValueError("queue_size and max_batch must be at least 1")
        self._store = store
        self._tracing = tracing
        self._announce = store.feed() is not None  # others share the store: tell them
        self._keyrings = keyrings
        self._revisions_kept = revisions_kept
        self._metrics = metrics
        self._max_batch = max_batch
        self._clock = clock
        self._quotas = quotas
        self._ledger: QuotaLedger | None = None
        self._audit_key = audit_key
        self._audit = AuditChain(None, key=audit_key)
        self._stale = True  # the audit head and usage must be read before the first batch
        self._queue: deque[_Pending] = deque()
        self._queue_size = queue_size
        self._arrived: asyncio.Future[None] | None = None  # the idle consumer waits on it
        self._unfinished = 0  # jobs queued or being applied
        self._drained = asyncio.Event()  # set while _unfinished == 0
        self._drained.set()
        self._depth = metrics.queue_depth.labels(queue=QUEUE)
        self._listeners: list[Listener] = []
        self._key_listeners: list[KeyListener] = []
        self._task: asyncio.Task[None] | None = None
        self._in_hand: list[_Pending] = []  # the batch being applied
        self._accepting = False

    @property
    def running(self) -> bool:
        """True between entering and leaving ``async with``, while jobs are accepted."""
        return self._accepting and self._task is not None and not self._task.done()

    @property
    def audit_head(self) -> AuditEntry | None:
        """The last audit entry committed (what the anchor records)."""
        return self._audit.head

    @property
    def depth(self) -> int:
        """Jobs waiting in the queue now."""
        return len(self._queue)

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every ``ModuleChanged``, after the change is durable."""
        self._listeners.append(listener)

    def subscribe_keys(self, listener: KeyListener) -> None:
        """Call ``listener`` with every ``ApiKeyChanged`` (a key created or revoked),
        after the change is durable and before its submitter is answered."""
        self._key_listeners.append(listener)

    async def __aenter__(self) -> Writer:
        """Read the audit log's head (and the usage, with quotas), then start consuming."""
        if self._task is not None:
            raise RuntimeError("a Writer runs once")
        try:
            await self._resync()
        except StorageError as exc:
            # A damaged audit head (or usage) must not stop the server: reads go on, and
            # each batch tries again, failing its writes with the reason until it can.
            logger.error("writer_cannot_read_its_state", error=str(exc))
            self._stale = True
        self._task = asyncio.create_task(self._consume(), name="wess-writer")
        self._task.add_done_callback(self._consumer_ended)
        self._accepting = True
        return self

    def _consumer_ended(self, task: asyncio.Task[None]) -> None:
        """The consumer only ends when stopped; if it ever dies, no job may wait forever:
        refuse new ones and fail every queued one with the reason."""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        self._accepting = False
        logger.error("writer_crashed", error=repr(error))
        for pending in [*self._in_hand, *self._queue]:
            _fail(pending, StorageUnavailable(f"the writer stopped: {error!r}"))
        self._in_hand = []
        self._queue.clear()
        self._finished(self._unfinished)
        self._report_depth()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Refuse new jobs, finish every queued one, then stop the consumer."""
        self._accepting = False
        if self._task is None:
            return
        try:
            if not self._task.done():
                await self._drained.wait()
        finally:
            self._task.cancel()
            # a crash was already reported (and its jobs failed) by _consumer_ended
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            while self._queue:  # only if stopping was itself cancelled
                _fail(self._queue.popleft(), StorageUnavailable("the writer stopped"))
            self._finished(self._unfinished)
            self._report_depth()

    @overload
    async def submit(self, job: RotateKek) -> int: ...
    @overload
    async def submit(self, job: ImportRecords) -> ImportResult: ...
    @overload
    async def submit(
        self, job: CreateApiKey | RevokeApiKey | TouchApiKeys | RecordAudit | RecordUsage
    ) -> None: ...
    @overload
    async def submit(self, job: ModuleJob) -> ModuleInfo | None: ...
    async def submit(self, job: WriteJob) -> Result:
        """Queue ``job`` and wait until it is durable. Answers the stored info for a
        module job (None for a delete), the number of values rewrapped for a
        ``RotateKek``, None for the rest.

        Raises ``Overloaded`` at once when the queue is full. If the caller is cancelled
        while waiting, the job still completes exactly once.
        """
        if job.version != MESSAGE_VERSION:
            raise InvalidRequest(
                f"write job has message version {job.version}; this Writer reads "
                f"version {MESSAGE_VERSION} only",
                version=job.version,
            )
        if not self.running:
            raise StorageUnavailable("the writer is not running; no writes are accepted")
        if len(self._queue) >= self._queue_size:
            self._metrics.queue_rejections.labels(queue=QUEUE).inc()
            raise Overloaded(
                f"the write queue is full ({self._queue_size} jobs); retry shortly",
                retry_after=1,
            )
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(job, future))
        self._unfinished += 1
        self._drained.clear()
        arrived = self._arrived
        if arrived is not None and not arrived.done():
            arrived.set_result(None)
        self._depth.set(len(self._queue))
        # Cancelling the caller cancels only its wait: the job stays queued, is applied
        # exactly once, and its answer (skipped for a cancelled future) goes nowhere.
        tracing = self._tracing
        if tracing is None:
            return await future
        with tracing.span("storage write", {"wess.write.job": type(job).__name__}, leaf=True):
            return await future

    async def _consume(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            while not queue:
                self._arrived = loop.create_future()
                try:
                    await self._arrived
                finally:
                    self._arrived = None
            take = min(len(queue), self._max_batch)
            batch = self._in_hand = [queue.popleft() for _ in range(take)]
            self._report_depth()
            try:
                await self._apply(batch)
            except StorageError as exc:  # storage down (or its breaker open): no traceback
                logger.error("writer_batch_failed", jobs=len(batch), error=str(exc))
                for pending in batch:
                    _fail(pending, exc)
            except Exception as exc:  # never let one batch kill the only consumer
                logger.exception("writer_batch_failed")
                for pending in batch:
                    _fail(pending, exc)
            except asyncio.CancelledError:  # stopped mid-batch: answer, never leave callers hanging
                for pending in batch:
                    _fail(pending, StorageUnavailable("the writer stopped before this write"))
                raise
            finally:
                self._finished(len(batch))

    def _finished(self, jobs: int) -> None:
        self._unfinished -= jobs
        if self._unfinished <= 0:
            self._unfinished = 0
            self._drained.set()

    def set_quotas(self, quotas: NamespaceQuotas | None) -> None:
        """Hold namespaces to ``quotas`` from the next batch on (a reload; None:
        unlimited). Quotas set where there were none need the usage: it is read before
        that batch."""
        self._quotas = quotas
        if quotas is None:
            self._ledger = None
        elif self._ledger is not None:
            self._ledger.quotas = quotas
        else:  # read with the audit head, before the next batch
            self._stale = True

    async def _resync(self) -> None:
        """Read the audit log's head and the usage again: at start, and after a failed
        commit (which may have reached the disk all the same)."""
        self._audit = AuditChain(await self._store.audit.head(), key=self._audit_key)
        if self._quotas is not None:
            self._ledger = QuotaLedger(self._quotas, await self._store.modules.namespace_usage())
        self._stale = False

    async def _apply(self, batch: list[_Pending]) -> None:
        """Commit the jobs between rotations and imports as batches; run each of those
        alone."""
        if self._stale:
            await self._resync()
        run: list[_Pending] = []
        jobs: list[BatchJob] = []
        for pending in batch:
            job = pending.job
            if isinstance(job, RotateKek | ImportRecords):
                await self._commit(run, jobs)
                run, jobs = [], []
                if isinstance(job, RotateKek):
                    await self._rotate(pending, job)
                else:
                    await self._import(pending, job)
            else:
                run.append(pending)
                jobs.append(job)
        await self._commit(run, jobs)

    async def _commit(self, run: list[_Pending], jobs: list[BatchJob]) -> None:
        """Check ``jobs`` (those of ``run``) in order and commit the valid ones with every
        audit entry in ONE ``transact``: the batch's reads, its checks and its commit
        in one step (one thread hop for RocksDB, one fsync)."""
        if not run:
            return
        self._metrics.writer_batch_size.observe(len(run))
        batch = BatchPlan(
            now=self._clock(),
            usage=self._ledger.draft() if self._ledger is not None else None,
            revisions_kept=self._revisions_kept,
        )
        steps: list[Step] = []
        entries: list[AuditEntry] = []

        def check(store: StoreView) -> list[Change]:
            # Runs on the storage's thread while this task waits: it only reads the
            # Writer's state (the audit head and the ledger move after the commit).
            if self._announce and self._quotas is not None:
                # other nodes write too: the usage as the store has it now, under its lock
                namespaces = sorted({job.namespace for job in jobs if isinstance(job, CHARGED)})
                usage = store.namespace_usage(namespaces)
                batch.charge_against(QuotaLedger(self._quotas, usage).draft())
            batch.read(store, jobs)
            steps.extend(batch.add(job) for job in jobs)
            valid = [step for step in steps if step.error is None]
            audited = [step.audit for step in valid if step.audit]
            if audited:  # chained after the head as the store has it now (other nodes)
                chain = AuditChain(store.audit_head(), key=self._audit_key)
                entries.extend(chain.extend(audited))
            return changes_of(valid, entries, announce=self._announce)

        try:
            await self._store.transact(check)
        except Exception as exc:
            self._commit_failed(exc, len(run))
            for pending, step in itertools.zip_longest(run, steps):
                refused = step is not None and step.error is not None
                _fail(pending, step.error if refused and step.error is not None else exc)
            return
        self._audit.advance(entries)
        if self._ledger is not None and batch.usage is not None and not self._announce:
            self._ledger.merge(batch.usage)
        for pending, job, step in zip(run, jobs, steps, strict=True):
            if step.planned is not None:
                _log(job)
                if step.planned.event is not None:
                    self._publish(step.planned.event)
            _answer(pending, step)

    async def _rotate(self, pending: _Pending, job: RotateKek) -> None:
        """Rewrap every stored value under the new KEK, then record it in the audit log
        (a refused rotation is recorded by the request that asked for it)."""
        try:
            count = await self._store.admin.rewrap(self._keyring_for(job.kek_id))
        except Exception as exc:
            logger.error("kek_rotation_failed", kek_id=job.kek_id, error=str(exc))
            _fail(pending, exc)
            return
        target = f"{job.kek_id} rewrapped={count}"
        fields = audit_fields(job, outcome=OK, now=self._clock(), target=target)
        assert fields is not None  # a RotateKek always names its actor
        entries = self._audit.extend([fields])
        try:
            await self._store.commit([AppendAudit(entries[0])])
        except Exception as exc:
            self._commit_failed(exc, 1)
            _fail(pending, exc)
            return
        self._audit.advance(entries)
        logger.info(f"ROTATE_KEK {job.kek_id}", rewrapped=count, request_id=job.request_id)
        if not pending.future.done():
            pending.future.set_result(count)

    async def _import(self, pending: _Pending, job: ImportRecords) -> None:
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
            _fail(pending, exc)
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
            _notify(self._key_listeners, event, "key_changed_listener_failed")
        else:
            _notify(self._listeners, event, "module_changed_listener_failed")

    def _report_depth(self) -> None:
        self._depth.set(len(self._queue))


def _log(job: WriteJob) -> None:
    if isinstance(job, MODULE_JOBS):
        module_id = str(job.module_id)
        logger.info(
            f"{job.kind.upper()} {module_id}", module_id=module_id, request_id=job.request_id
        )
    elif isinstance(job, RecordUsage):
        logger.debug("RECORD_USAGE", modules=len(job.counts))
    elif isinstance(job, TouchApiKeys):
        logger.debug("TOUCH_KEYS", keys=len(job.last_used))
    elif isinstance(job, RecordAudit):
        logger.debug("RECORD_AUDIT", action=job.fields.action, outcome=job.fields.outcome)
    elif isinstance(job, CreateApiKey | RevokeApiKey):
        key_id = job.key.id if isinstance(job, CreateApiKey) else job.key_id
        logger.info(f"{job.kind.upper()} {key_id}", key_id=key_id, request_id=job.request_id)


def _notify(listeners: list[Callable[[E], None]], event: E, failed: str) -> None:
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            if isinstance(event, ApiKeyChanged):
                logger.exception(failed, listener=repr(listener), key_id=event.key_id)
            else:
                logger.exception(failed, listener=repr(listener), module_id=str(event.module_id))


def _answer(pending: _Pending, step: Step) -> None:
    if step.error is not None:
        _fail(pending, step.error)
    elif not pending.future.done():
        pending.future.set_result(step.planned.info if step.planned is not None else None)


def _fail(pending: _Pending, exc: BaseException) -> None:
    if not pending.future.done():
        pending.future.set_exception(exc)
