"""``Writer``: the single consumer of write jobs, committing them in groups.

Every create, update and delete (and every artifact and usage count the Runner wants
kept) goes through one bounded queue. The consumer takes a job, then whatever else is
already waiting (up to ``max_batch``), checks each against the store and the jobs
before it (``planning.plan``), and commits all the valid ones in ONE
``repository.commit`` (one fsync for the batch). Only then does it answer the callers
and publish ``ModuleChanged`` to subscribers. A full queue answers ``Overloaded`` at
once instead of letting callers pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from uuid import UUID

import structlog

from wess.errors import InvalidRequest, Overloaded, StorageUnavailable
from wess.messages import MESSAGE_VERSION, ModuleChanged, RecordUsage, WriteJob
from wess.models import ModuleInfo
from wess.observability.metrics import Metrics
from wess.storage.base import AddUsage, ModuleRepository
from wess.workers.planning import Planned, plan

logger = structlog.get_logger(__name__)

QUEUE = "writer"
Listener = Callable[[ModuleChanged], None]


def utc_now() -> datetime:
    """The current time in UTC: the Writer's default clock."""
    return datetime.now(UTC)


@dataclass(slots=True)
class _Pending:
    job: WriteJob
    future: asyncio.Future[ModuleInfo | None] = field(repr=False)


class Writer:
    """Serialises every write through one consumer task; see the module docstring."""

    def __init__(
        self,
        repository: ModuleRepository,
        *,
        metrics: Metrics,
        queue_size: int = 1024,
        max_batch: int = 256,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if queue_size < 1 or max_batch < 1:
            raise ValueError("queue_size and max_batch must be at least 1")
        self._repository = repository
        self._metrics = metrics
        self._max_batch = max_batch
        self._clock = clock
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=queue_size)
        self._listeners: list[Listener] = []
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

    async def __aenter__(self) -> Writer:
        if self._task is not None:
            raise RuntimeError("a Writer runs once")
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

    async def submit(self, job: WriteJob) -> ModuleInfo | None:
        """Queue ``job`` and wait until it is durable: the stored info (None for a delete).

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

    async def _apply(self, batch: list[_Pending]) -> None:
        self._metrics.writer_batch_size.observe(len(batch))
        now = self._clock()
        state: dict[UUID, ModuleInfo | None] = {}  # after the earlier jobs of this batch
        accepted: list[tuple[_Pending, Planned]] = []
        for pending in batch:
            job = pending.job
            try:
                if isinstance(job, RecordUsage):  # the store drops counts of absent modules
                    planned = Planned((AddUsage(job.counts),), None, None)
                else:
                    if job.module_id not in state:
                        state[job.module_id] = await self._repository.get_info(job.module_id)
                    planned = plan(job, state[job.module_id], now=now)
                    state[job.module_id] = planned.info
            except Exception as exc:
                _fail(pending, exc)
                continue
            accepted.append((pending, planned))
        if not accepted:
            return
        try:
            await self._repository.commit([c for _, planned in accepted for c in planned.changes])
        except Exception as exc:
            logger.error("writer_commit_failed", jobs=len(accepted), error=str(exc))
            for pending, _ in accepted:
                _fail(pending, exc)
            return
        for pending, planned in accepted:
            _log(pending.job)
            if planned.event is not None:
                self._publish(planned.event)
            if not pending.future.done():
                pending.future.set_result(planned.info)

    def _publish(self, event: ModuleChanged) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                logger.exception(
                    "module_changed_listener_failed",
                    module_id=str(event.module_id),
                    listener=repr(listener),
                )

    def _report_depth(self) -> None:
        self._metrics.queue_depth.labels(queue=QUEUE).set(self._queue.qsize())


def _log(job: WriteJob) -> None:
    if isinstance(job, RecordUsage):
        logger.debug("RECORD_USAGE", modules=len(job.counts))
        return
    logger.info(
        f"{job.kind.upper()} {job.module_id}",
        module_id=str(job.module_id),
        request_id=job.request_id,
    )


def _fail(pending: _Pending, exc: BaseException) -> None:
    if not pending.future.done():
        pending.future.set_exception(exc)
