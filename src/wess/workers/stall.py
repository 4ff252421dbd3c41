"""When the Writer cannot finish: a store that stops answering, a consumer that died;
how the Writer notices, and what its callers hear.

A batch whose commit has not returned ``commit_timeout`` seconds after it began (
``writer.commit_timeout_ms``) means storage has stalled: a hung disk, a frozen network
volume, a database that no longer answers. Rather than letting every writer wait for
as long as the store hangs, the Writer answers at once (503 ``storage_timeout``):

- the writes still waiting (queued, or taken into the next batch but not handed to
  storage yet) are withdrawn: they are refused with ``applied: false`` and never land;
- the writes of the batches storage holds cannot be called back: they are refused with
  ``applied: "unknown"`` and the module they name, as they land if storage answers
  (a client reads the module before it tries again);
- a new write is refused at once (``applied: false``) while a commit is overdue.

Once the overdue commit returns, writes are accepted again, without a restart. Key
rotations and imports run outside the batches and are never withdrawn.

A consumer that dies (a bug: it catches every batch's failure) fails every job it held
and stops accepting new ones, so no caller waits for ever.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import ClassVar

import structlog

from wess.errors import StorageTimeout, StorageUnavailable
from wess.messages import ImportRecords, RotateKek
from wess.observability.metrics import Metrics
from wess.workers.inflight import InFlight, Pending, fail

logger = structlog.get_logger("wess.workers.writer")

RETRY_AFTER = 1
"""Seconds a refused writer is told to wait: a stalled store is checked that often."""


class StallWatch:
    """The Writer's watch over its commits (a base class of ``Writer``, which holds the
    state declared here)."""

    _queue: deque[Pending]
    _in_flight: deque[InFlight]
    _in_hand: list[Pending]
    _metrics: Metrics
    _commit_timeout: float | None
    _unreturned: dict[int, InFlight]  # batches storage holds, while watched
    _close: Callable[[list[Pending]], None]
    _finished: Callable[[int], None]
    _report_depth: Callable[[], None]
    _accepting: bool
    _unfinished: int
    OCCASIONAL: ClassVar = (RotateKek, ImportRecords)

    def _consumer_ended(self, task: asyncio.Task[None]) -> None:
        """The consumer only ends when stopped; if it ever dies, no job may wait forever:
        refuse new ones and fail every queued one with the reason."""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        self._accepting = False
        logger.error("writer_crashed", error=repr(error))
        flying = [pending for flight in self._in_flight for pending in flight.run]
        for pending in [*flying, *self._in_hand, *self._queue]:
            fail(pending, StorageUnavailable(f"the writer stopped: {error!r}"))
        self._in_hand = []
        self._in_flight.clear()
        self._queue.clear()
        self._finished(self._unfinished)
        self._report_depth()

    @property
    def stalled(self) -> bool:
        """Whether a commit has not returned within its timeout (``/readyz``)."""
        return self._overdue()

    def _overdue(self) -> bool:
        timeout = self._commit_timeout
        if timeout is None or not self._unreturned:
            return False
        oldest = min(flight.begun for flight in self._unreturned.values())
        return time.perf_counter() - oldest > timeout

    def _refuse_if_stalled(self) -> None:
        """Raise ``StorageTimeout`` (not applied) while a commit is overdue."""
        if self._overdue():
            self._metrics.writer_stall_refusals.labels(applied="false").inc()
            raise StorageTimeout(
                f"storage has not finished a commit within {self._timeout_ms()} ms "
                "(writer.commit_timeout_ms); this write was not applied, retry shortly",
                applied=False,
                retry_after=RETRY_AFTER,
            )

    def _watch(self, flight: InFlight) -> None:
        """Check ``flight`` once its commit should have returned."""
        if self._commit_timeout is None:
            return
        key = id(flight)
        self._unreturned[key] = flight
        watch = asyncio.get_running_loop().call_later(self._commit_timeout, self._check, flight)

        def returned(_: object) -> None:
            watch.cancel()
            del self._unreturned[key]

        flight.commit.add_done_callback(returned)

    def _check(self, flight: InFlight) -> None:
        if flight.commit.done():
            return
        ms = self._timeout_ms()
        held = [p for each in self._unreturned.values() for p in each.run if self._batched(p)]
        holding = {id(pending) for each in self._unreturned.values() for pending in each.run}
        withdrawn = [p for p in self._in_hand if id(p) not in holding and self._batched(p)]
        withdrawn += [p for p in self._queue if self._batched(p)]
        kept = [p for p in self._queue if not self._batched(p)]
        self._queue.clear()
        self._queue.extend(kept)
        for pending in withdrawn:
            pending.withdrawn = True
            fail(
                pending,
                StorageTimeout(
                    f"storage has not finished a commit within {ms} ms "
                    "(writer.commit_timeout_ms); this write was withdrawn before storage "
                    "saw it and was not applied, retry shortly",
                    applied=False,
                    retry_after=RETRY_AFTER,
                ),
            )
        for pending in held:
            module_id = getattr(pending.job, "module_id", None)
            context = {} if module_id is None else {"module_id": str(module_id)}
            fail(
                pending,
                StorageTimeout(
                    f"storage has not confirmed this write within {ms} ms "
                    "(writer.commit_timeout_ms); storage holds it, and it is applied "
                    "if storage answers: read it before trying again",
                    applied="unknown",
                    retry_after=RETRY_AFTER,
                    **context,
                ),
            )
        self._close(withdrawn)
        self._report_depth()
        self._metrics.writer_stall_refusals.labels(applied="false").inc(len(withdrawn))
        self._metrics.writer_stall_refusals.labels(applied="unknown").inc(len(held))
        logger.error(
            "writer_commit_overdue", timeout_ms=ms, withdrawn=len(withdrawn), held=len(held)
        )

    def _batched(self, pending: Pending) -> bool:
        return not isinstance(pending.job, self.OCCASIONAL) and not pending.future.done()

    def _timeout_ms(self) -> int:
        return round((self._commit_timeout or 0) * 1000)
