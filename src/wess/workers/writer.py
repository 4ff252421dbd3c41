"""``Writer``: the single consumer of write jobs, committing them in groups.

Every change to the store goes through one bounded queue: creates, updates and deletes,
the artifacts and usage counts the Runner wants kept, API keys, audit-only entries and
key rotations. The consumer takes a job, then whatever else is already waiting (up to
``max_batch``), checks each against the store and the jobs before it (``batch``), and
commits all the valid ones in ONE ``repository.commit`` (one fsync for the batch).

Every job that names an actor gets exactly one audit entry in that same commit, a
refused one too (its outcome is the error's code; it is answered once its entry is
durable, and with the commit's error if the commit fails). Only after the commit does
the Writer publish ``ModuleChanged`` and ``ApiKeyChanged`` and answer the callers. A
``RotateKek`` runs between batches: the jobs before it commit first, those after it
wait. A full queue answers ``Overloaded`` at once instead of letting callers pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TypeVar, overload

import structlog

from wess.errors import InvalidRequest, Overloaded, StorageUnavailable
from wess.messages import (
    MESSAGE_VERSION,
    ApiKeyChanged,
    CreateApiKey,
    ModuleChanged,
    ModuleJob,
    RecordAudit,
    RecordUsage,
    RevokeApiKey,
    RotateKek,
    TouchApiKeys,
    WriteJob,
)
from wess.models import ModuleInfo
from wess.observability.metrics import Metrics
from wess.storage.base import AppendAudit, ModuleRepository
from wess.workers.audit_log import AuditChain, audit_fields, outcome_of
from wess.workers.batch import BatchPlan, Step, changes_of
from wess.workers.quotas import NamespaceQuotas, QuotaLedger

logger = structlog.get_logger(__name__)

QUEUE = "writer"
E = TypeVar("E", ModuleChanged, ApiKeyChanged)
Listener = Callable[[ModuleChanged], None]
KeyListener = Callable[[ApiKeyChanged], None]
Result = ModuleInfo | int | None
"""What ``submit`` answers: the module's info (None after a delete and for jobs that
are not about a module), or the number of values a rotation rewrapped."""


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
        repository: ModuleRepository,
        *,
        metrics: Metrics,
        queue_size: int = 1024,
        max_batch: int = 256,
        clock: Callable[[], datetime] = utc_now,
        quotas: NamespaceQuotas | None = None,
    ) -> None:
        if queue_size < 1 or max_batch < 1:
            raise ValueError("queue_size and max_batch must be at least 1")
        self._repository = repository
        self._metrics = metrics
        self._max_batch = max_batch
        self._clock = clock
        self._quotas = quotas
        self._ledger: QuotaLedger | None = None
        self._audit = AuditChain(None)
        self._stale = True  # the audit head and usage must be read before the first batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=queue_size)
        self._listeners: list[Listener] = []
        self._key_listeners: list[KeyListener] = []
        self._task: asyncio.Task[None] | None = None
        self._accepting = False

    @property
    def running(self) -> bool:
        """True between entering and leaving ``async with``, while jobs are accepted."""
        return self._accepting and self._task is not None and not self._task.done()

    @property
    def depth(self) -> int:
        """Jobs waiting in the queue now."""
        return self._queue.qsize()

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
        await self._resync()
        self._task = asyncio.create_task(self._consume(), name="wess-writer")
        self._accepting = True
        return self

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
                await self._queue.join()
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            while not self._queue.empty():  # only if stopping was itself cancelled
                _fail(self._queue.get_nowait(), StorageUnavailable("the writer stopped"))
                self._queue.task_done()

    @overload
    async def submit(self, job: RotateKek) -> int: ...
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
        pending = _Pending(job, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            self._metrics.queue_rejections.labels(queue=QUEUE).inc()
            raise Overloaded(
                f"the write queue is full ({self._queue.maxsize} jobs); retry shortly",
                retry_after=1,
            ) from None
        self._report_depth()
        # shield: cancelling the caller must not cancel the queued job's future.
        return await asyncio.shield(pending.future)

    async def _consume(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            self._report_depth()
            try:
                await self._apply(batch)
            except Exception as exc:  # never let one batch kill the only consumer
                logger.exception("writer_batch_failed")
                for pending in batch:
                    _fail(pending, exc)
            except asyncio.CancelledError:  # stopped mid-batch: answer, never leave callers hanging
                for pending in batch:
                    _fail(pending, StorageUnavailable("the writer stopped before this write"))
                raise
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _resync(self) -> None:
        """Read the audit log's head and the usage again: at start, and after a failed
        commit (which may have reached the disk all the same)."""
        self._audit = AuditChain(await self._repository.audit_head())
        if self._quotas is not None:
            self._ledger = QuotaLedger(self._quotas, await self._repository.namespace_usage())
        self._stale = False

    async def _apply(self, batch: list[_Pending]) -> None:
        """Commit the jobs between rotations as batches; run each rotation alone."""
        if self._stale:
            await self._resync()
        run: list[_Pending] = []
        for pending in batch:
            if isinstance(pending.job, RotateKek):
                await self._commit(run)
                run = []
                await self._rotate(pending, pending.job)
            else:
                run.append(pending)
        await self._commit(run)

    async def _commit(self, run: list[_Pending]) -> None:
        if not run:
            return
        self._metrics.writer_batch_size.observe(len(run))
        batch = BatchPlan(
            self._repository,
            now=self._clock(),
            usage=self._ledger.draft() if self._ledger is not None else None,
        )
        steps: list[tuple[_Pending, Step]] = []
        for pending in run:
            job = pending.job
            assert not isinstance(job, RotateKek)  # rotations run between batches
            step = await batch.add(job)
            if step.error is not None and step.audit is None:
                _fail(pending, step.error)  # nothing to record: answer at once
            else:
                steps.append((pending, step))
        entries = self._audit.extend([step.audit for _, step in steps if step.audit])
        changes = changes_of([step for _, step in steps], entries)
        if not changes:  # say, touches of keys revoked meanwhile
            for pending, step in steps:
                _answer(pending, step)
            return
        try:
            await self._repository.commit(changes)
        except Exception as exc:
            self._commit_failed(exc, len(steps))
            for pending, _ in steps:
                _fail(pending, exc)
            return
        self._audit.advance(entries)
        if self._ledger is not None and batch.usage is not None:
            self._ledger.merge(batch.usage)
        for pending, step in steps:
            if step.planned is not None:
                _log(pending.job)
                if step.planned.event is not None:
                    self._publish(step.planned.event)
            _answer(pending, step)

    async def _rotate(self, pending: _Pending, job: RotateKek) -> None:
        """Rewrap every stored value under the new KEK, then record it in the audit log."""
        try:
            count: int | None = await self._repository.rewrap(job.keyring)
            error: Exception | None = None
        except Exception as exc:
            count, error = None, exc
            logger.error("kek_rotation_failed", kek_id=job.keyring.current.id, error=str(exc))
        target = job.keyring.current.id + ("" if count is None else f" rewrapped={count}")
        fields = audit_fields(job, outcome=outcome_of(error), now=self._clock(), target=target)
        assert fields is not None  # a RotateKek always names its actor
        entries = self._audit.extend([fields])
        try:
            await self._repository.commit([AppendAudit(entries[0])])
        except Exception as exc:
            self._commit_failed(exc, 1)
            _fail(pending, error or exc)
            return
        self._audit.advance(entries)
        if error is not None:
            _fail(pending, error)
            return
        logger.info(
            f"ROTATE_KEK {job.keyring.current.id}", rewrapped=count, request_id=job.request_id
        )
        if not pending.future.done():
            pending.future.set_result(count)

    def _commit_failed(self, exc: Exception, jobs: int) -> None:
        logger.error("writer_commit_failed", jobs=jobs, error=str(exc))
        self._stale = True

    def _publish(self, event: ModuleChanged | ApiKeyChanged) -> None:
        if isinstance(event, ApiKeyChanged):
            _notify(self._key_listeners, event, "key_changed_listener_failed", key_id=event.key_id)
        else:
            module_id = str(event.module_id)
            _notify(self._listeners, event, "module_changed_listener_failed", module_id=module_id)

    def _report_depth(self) -> None:
        self._metrics.queue_depth.labels(queue=QUEUE).set(self._queue.qsize())


def _log(job: WriteJob) -> None:
    if isinstance(job, RecordUsage):
        logger.debug("RECORD_USAGE", modules=len(job.counts))
    elif isinstance(job, TouchApiKeys):
        logger.debug("TOUCH_KEYS", keys=len(job.last_used))
    elif isinstance(job, RecordAudit):
        logger.debug("RECORD_AUDIT", action=job.fields.action, outcome=job.fields.outcome)
    elif isinstance(job, CreateApiKey | RevokeApiKey):
        key_id = job.key.id if isinstance(job, CreateApiKey) else job.key_id
        logger.info(f"{job.kind.upper()} {key_id}", key_id=key_id, request_id=job.request_id)
    elif not isinstance(job, RotateKek):
        logger.info(
            f"{job.kind.upper()} {job.module_id}",
            module_id=str(job.module_id),
            request_id=job.request_id,
        )


def _notify(listeners: list[Callable[[E], None]], event: E, failed: str, **context: str) -> None:
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            logger.exception(failed, listener=repr(listener), **context)


def _answer(pending: _Pending, step: Step) -> None:
    if step.error is not None:
        _fail(pending, step.error)
    elif not pending.future.done():
        pending.future.set_result(step.planned.info if step.planned is not None else None)


def _fail(pending: _Pending, exc: BaseException) -> None:
    if not pending.future.done():
        pending.future.set_exception(exc)
