"""``Deadline``: how long a request may still take, passed down to every stage.

A run request gets one deadline when it reaches the service: ``server.request_timeout_ms``
from now, or less when the client sends ``Request-Timeout-Ms`` (never more: the setting
caps the header). The same value travels down, explicitly, to the stages that wait or
work: the Reader's store read (``storage``), the compile (``compile``), the waits for a
module's slot and a pool thread (``queue``) and the call itself (``execution``), whose
time limit is cut to the time left when it starts. Whichever stage is running when the
deadline passes ends the request with ``DeadlineExceeded`` naming that ``layer`` (408).

Time comes from the clock the ``Deadlines`` policy was given (``time.monotonic``; a
``FakeClock`` in tests). Stages that wait bound the wait with the loop's timer
(``bounded``: allocated only when a stage really waits), and check the clock when they
end (``check``), so a test that holds a stage and moves a fake clock past the deadline
sees the stage's own layer. On the hot path (module cached and compiled, a thread free)
a request costs one ``Deadline`` and a clock reading or two: nothing else is allocated.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from wess.errors import DeadlineExceeded
from wess.observability.metrics import Metrics

T = TypeVar("T")

QUEUE = "queue"
STORAGE = "storage"
COMPILE = "compile"
EXECUTION = "execution"
LAYERS = (QUEUE, STORAGE, COMPILE, EXECUTION)


class Deadline:
    """The instant (in its policy's clock seconds) a request must be answered by."""

    __slots__ = ("_policy", "budget_ms", "clock", "expires")

    def __init__(self, expires: float, budget_ms: int, policy: Deadlines) -> None:
        self.expires = expires
        self.budget_ms = budget_ms
        """The whole budget, for messages: what the request was given."""
        self.clock = policy.clock
        self._policy = policy

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.expires - self.clock()

    def remaining_ms(self) -> int:
        """Whole milliseconds left, rounded down (0 or less once passed)."""
        return int((self.expires - self.clock()) * 1000)

    def check(self, layer: str) -> None:
        """``DeadlineExceeded`` naming ``layer`` if the deadline has passed."""
        if self.clock() >= self.expires:
            raise self.exceeded(layer)

    def exceeded(self, layer: str) -> DeadlineExceeded:
        """The error of a deadline that passed in ``layer``, counted (raise it)."""
        self._policy.passed(layer)
        return DeadlineExceeded(
            f"the request's deadline of {self.budget_ms} ms passed in the {layer} stage; "
            "send a longer Request-Timeout-Ms (up to server.request_timeout_ms) or retry",
            layer=layer,
            timeout_ms=self.budget_ms,
        )

    @contextlib.asynccontextmanager
    async def bounded(self, layer: str) -> AsyncIterator[None]:
        """Wait inside for at most the time left; past it, the wait is cancelled and
        ``DeadlineExceeded`` naming ``layer`` raised. Cleanup in the block sees the
        cancellation first, as with any ``asyncio.timeout``."""
        timeout = asyncio.timeout(self.remaining())
        try:
            async with timeout:
                yield
        except TimeoutError:
            if timeout.expired():
                raise self.exceeded(layer) from None
            raise

    async def within(self, work: Awaitable[T], layer: str) -> T:
        """``await work``, bounded by the time left, then checked against the clock."""
        async with self.bounded(layer):
            result = await work
        self.check(layer)
        return result


class Deadlines:
    """Makes each request's deadline: ``default_ms`` (``server.request_timeout_ms``), or
    the client's shorter ``asked_ms``, from now on ``clock``; counts the deadlines that
    pass in ``wess_deadline_exceeded_total{layer}``."""

    def __init__(
        self,
        default_ms: int,
        *,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if default_ms < 1:
            raise ValueError("default_ms must be at least 1")
        self.default_ms = default_ms
        self.clock = clock
        self._counted = {layer: metrics.deadlines_exceeded.labels(layer=layer) for layer in LAYERS}

    def start(self, asked_ms: int | None = None) -> Deadline:
        """A deadline from now: the default, or ``asked_ms`` when shorter."""
        budget = self.default_ms if asked_ms is None or asked_ms > self.default_ms else asked_ms
        return Deadline(self.clock() + budget * 0.001, budget, self)  # positional: hot path

    def passed(self, layer: str) -> None:
        """Count one deadline that passed in ``layer`` (safe from any thread)."""
        self._counted[layer].inc()
