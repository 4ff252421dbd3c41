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

Commits are pipelined: up to ``pipeline`` batches are in flight, the next one taken,
checked and written while the one before it syncs (RocksDB syncs without the GIL:
``storage.rocks.gate``), each checked against the store as the ones before it leave
it. The Writer settles them in the order begun, answering a batch's callers (and
publishing its events) once its own commit returned, i.e. once it is durable. A
rotation, an import, or a batch after a failed commit first waits for every batch in
flight. A commit that does not return in time is a stalled store: ``stall``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import overload

import structlog

from wess.errors import (
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
from wess.observability.logging import log_lines
from wess.observability.metrics import Metrics
from wess.observability.tracing import Tracing
from wess.security.audit import AuditKey
from wess.security.crypto import Keyring
from wess.storage import Change, Store, StoreView
from wess.workers.audit_log import AuditChain
from wess.workers.batch import CHARGED, BatchJob, BatchPlan, Step, changes_of
from wess.workers.inflight import (
    InFlight,
    Pending,
    Result,
    answer,
    fail,
    log_line,
)
from wess.workers.occasional import OccasionalJobs
from wess.workers.planning import DEFAULT_REVISIONS_KEPT
from wess.workers.quotas import NamespaceQuotas, QuotaLedger, UsageDraft
from wess.workers.stall import StallWatch

logger = structlog.get_logger(__name__)

QUEUE = "writer"
FIRST = asyncio.FIRST_COMPLETED
SPLIT_AT_LEAST = 8
SMOOTHING = 0.2
"""Batches overlap (the next one checked while one syncs, a large queue split in two)
while a commit (begun to durable) takes at most twice the time from answering a batch
to beginning the next, both smoothed: the Writer's own work per batch then weighs as
much as the disk's sync, and overlapping the two pays. A slower commit is the sync:
then fewer, larger batches beat overlapping, and the next batch waits and grows while
one syncs. Both times grow alike on a busy machine; the ratio holds."""
"""Jobs each half of a split batch holds at least: a batch's fixed costs (a thread hop,
a sync) are shared by enough jobs to be worth a second one."""
Listener = Callable[[ModuleChanged], None]
KeyListener = Callable[[ApiKeyChanged], None]


def utc_now() -> datetime:
    """The current time in UTC: the Writer's default clock."""
    return datetime.now(UTC)


class Writer(OccasionalJobs, StallWatch):
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
        pipeline: int = 2,
        commit_timeout: float | None = None,
    ) -> None:
        if queue_size < 1 or max_batch < 1 or pipeline < 1:
            raise ValueError("queue_size, max_batch and pipeline must be at least 1")
        self._pipeline = pipeline
        self._commit_timeout = commit_timeout  # None: wait as long as storage takes
        self._unreturned: dict[int, InFlight] = {}
        self._commit_seconds = 0.0  # smoothed time from a batch's begin to its durability
        self._gap_seconds = 0.0  # smoothed time from settling a batch to beginning the next
        self._settled_at: float | None = None
        self._in_flight: deque[InFlight] = deque()
        self._last_draft: UsageDraft | None = None  # the usage of the newest batch begun
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
        self._queue: deque[Pending] = deque()
        self._queue_size = queue_size
        self._arrived: asyncio.Future[None] | None = None  # the idle consumer waits on it
        self._unfinished = 0  # jobs queued or being applied
        self._drained = asyncio.Event()  # set while _unfinished == 0
        self._drained.set()
        self._depth = metrics.queue_depth.labels(queue=QUEUE)
        self._listeners: list[Listener] = []
        self._key_listeners: list[KeyListener] = []
        self._task: asyncio.Task[None] | None = None
        self._in_hand: list[Pending] = []  # the batch being applied
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
                fail(self._queue.popleft(), StorageUnavailable("the writer stopped"))
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
        if self._unreturned and not isinstance(job, self.OCCASIONAL):  # storage hangs?
            self._refuse_if_stalled()
        if len(self._queue) >= self._queue_size:
            self._metrics.queue_rejections.labels(queue=QUEUE).inc()
            raise Overloaded(
                f"the write queue is full ({self._queue_size} jobs); retry shortly",
                retry_after=1,
            )
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append(Pending(job, future))
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
        in_flight = self._in_flight
        loop = asyncio.get_running_loop()
        while True:
            while in_flight and in_flight[0].commit.done():  # durable: answer at once
                await self._settle(in_flight.popleft())
            if not queue:
                # wait for a job, or for the oldest batch in flight to become durable
                arrived = self._arrived = loop.create_future()
                try:
                    if in_flight:
                        await asyncio.wait((arrived, in_flight[0].commit), return_when=FIRST)
                    else:
                        await arrived
                finally:
                    self._arrived = None
                    arrived.cancel()
                continue
            overlap = self._pipeline > 1 and self._commit_seconds <= 2 * self._gap_seconds
            if in_flight and not overlap:  # the sync dominates: let the next batch grow
                await self._settle(in_flight.popleft())
                await asyncio.sleep(0)  # the callers just answered may send again first
                continue
            take = min(len(queue), self._max_batch)
            if not in_flight and overlap and take >= 2 * SPLIT_AT_LEAST:
                # Nothing syncing: take half, so the other half forms the next batch
                # while this one syncs. Callers that wait for their answer before they
                # send again (a closed loop) then keep two batches alternating instead
                # of one, and the disk's sync overlaps the Writer's work.
                take = (take + 1) // 2
            batch = self._in_hand = [queue.popleft() for _ in range(take)]
            self._report_depth()
            try:
                await self._apply(batch)
            except StorageError as exc:  # storage down (or its breaker open): no traceback
                logger.error("writer_batch_failed", jobs=len(batch), error=str(exc))
                self._close_failed(batch, exc)
            except Exception as exc:  # never let one batch kill the only consumer
                logger.exception("writer_batch_failed")
                self._close_failed(batch, exc)
            except asyncio.CancelledError:  # stopped mid-batch: answer, never leave callers hanging
                stopped = StorageUnavailable("the writer stopped before this write")
                self._close_failed(batch, stopped)
                while in_flight:
                    self._close_failed(in_flight.popleft().run, stopped)
                raise
            finally:
                self._in_hand = []

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

    def _close(self, pendings: list[Pending]) -> None:
        """Count answered jobs out of the unfinished ones, each once."""
        closed = 0
        for pending in pendings:
            if not pending.closed:
                pending.closed = True
                closed += 1
        self._finished(closed)

    def _close_failed(self, pendings: list[Pending], exc: BaseException) -> None:
        for pending in pendings:
            fail(pending, exc)
        self._close(pendings)

    async def _resync(self) -> None:
        """Read the audit log's head and the usage again: at start, and after a failed
        commit (which may have reached the disk all the same)."""
        self._audit = AuditChain(await self._store.audit.head(), key=self._audit_key)
        self._last_draft = None
        if self._quotas is not None:
            self._ledger = QuotaLedger(self._quotas, await self._store.modules.namespace_usage())
        self._stale = False

    async def _apply(self, batch: list[Pending]) -> None:
        """Begin the jobs between rotations and imports as batches; run each of those
        alone, once every batch before it is settled."""
        if self._stale:
            await self._settle_all()
            await self._resync()
        run: list[Pending] = []
        jobs: list[BatchJob] = []
        for pending in batch:
            job = pending.job
            if isinstance(job, RotateKek | ImportRecords):
                await self._begin(run, jobs)
                run, jobs = [], []
                await self._settle_all()
                try:
                    if isinstance(job, RotateKek):
                        await self._rotate(pending, job)
                    else:
                        await self._import(pending, job)
                finally:
                    self._close([pending])
            else:
                run.append(pending)
                jobs.append(job)
        await self._begin(run, jobs)

    async def _settle_all(self) -> None:
        while self._in_flight:
            await self._settle(self._in_flight.popleft())

    async def _begin(self, run: list[Pending], jobs: list[BatchJob]) -> None:
        """Start checking ``jobs`` (those of ``run``) in order and committing the valid
        ones with every audit entry in ONE ``transact``: the batch's reads, its checks
        and its commit in one step (one thread hop for RocksDB, one sync). Settles the
        oldest batch in flight first when ``pipeline`` of them are."""
        while run and len(self._in_flight) >= self._pipeline:
            await self._settle(self._in_flight.popleft())
        if any(pending.withdrawn for pending in run):  # refused while storage stalled
            kept = [(p, job) for p, job in zip(run, jobs, strict=True) if not p.withdrawn]
            run, jobs = [p for p, _ in kept], [job for _, job in kept]
        if not run:
            return
        if self._stale:  # a batch settled just now failed: its successors wait
            await self._settle_all()
            await self._resync()
        self._metrics.writer_batch_size.observe(len(run))
        usage = None
        if self._ledger is not None:
            after = None if self._announce else self._last_draft  # (never merged then)
            usage = self._last_draft = self._ledger.draft(after=after)
        batch = BatchPlan(now=self._clock(), usage=usage, revisions_kept=self._revisions_kept)
        steps: list[Step] = []
        entries: list[AuditEntry] = []

        def check(store: StoreView) -> list[Change]:
            # Runs on the storage's thread while the event loop goes on: it reads only
            # what stays put meanwhile (the batch's own plan, the quotas, the usage of
            # the batches before it); the store is read through ``store``.
            if self._announce and self._quotas is not None:
                # other nodes write too: the usage as the store has it now, under its lock
                namespaces = sorted({job.namespace for job in jobs if isinstance(job, CHARGED)})
                usage = store.namespace_usage(namespaces)
                batch.charge_against(QuotaLedger(self._quotas, usage).draft())
            batch.read(store, jobs)
            steps.extend(batch.add(job) for job in jobs)
            valid = [step for step in steps if step.error is None]
            audited = [step.audit for step in valid if step.audit]
            if audited:  # chained after the head as the store has it now (the batch
                # before this one, still syncing, or other nodes)
                chain = AuditChain(store.audit_head(), key=self._audit_key)
                entries.extend(chain.extend(audited))
            return changes_of(valid, entries, announce=self._announce)

        commit = asyncio.ensure_future(self._store.transact(check))
        begun = time.perf_counter()
        if self._settled_at is not None:
            gap = begun - self._settled_at
            self._gap_seconds += SMOOTHING * (gap - self._gap_seconds)
            self._settled_at = None
        flight = InFlight(run, jobs, batch, steps, entries, commit, begun)
        self._in_flight.append(flight)
        self._watch(flight)

    async def _settle(self, flight: InFlight) -> None:
        """Wait for a batch's commit; then publish its events and answer its callers."""
        run, steps = flight.run, flight.steps
        try:
            await flight.commit
        except Exception as exc:
            self._commit_failed(exc, len(run))
            for pending, step in itertools.zip_longest(run, steps):
                refused = step is not None and step.error is not None
                fail(pending, step.error if refused and step.error is not None else exc)
            self._close(run)
            return
        took = time.perf_counter() - flight.begun
        self._commit_seconds += SMOOTHING * (took - self._commit_seconds)
        self._settled_at = time.perf_counter()
        self._audit.advance(flight.entries)
        usage = flight.plan.usage
        if self._ledger is not None and usage is not None and not self._announce:
            self._ledger.merge(usage)
        lines = []
        for job, step in zip(flight.jobs, steps, strict=True):
            if step.planned is not None:
                line = log_line(job)
                if line is not None:
                    lines.append(line)
                if step.planned.event is not None:
                    self._publish(step.planned.event)
        log_lines(logger, __name__, lines)  # one write for the batch's lines
        for pending, step in zip(run, steps, strict=True):
            answer(pending, step)
        self._close(run)

    def _report_depth(self) -> None:
        self._depth.set(len(self._queue))
