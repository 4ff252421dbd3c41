"""``CircuitBreaker``: stop calling what keeps failing, and try it again after a while.

A breaker is **closed** while calls go through. After ``threshold`` failures in a row it
**opens**: callers refuse at once (fast, instead of each waiting for the same failure)
for ``cooldown`` seconds. Then it is **half open**: the next call goes through as the
probe, alone (others are still refused); its success closes the breaker, its failure
opens it for another cool-down. A call that ends with no verdict (cancelled, or failed
for a reason that says nothing about the dependency) calls ``release``, and the next
call may probe instead.

The breaker is plain bookkeeping: no I/O, no event loop, no thread; time comes from the
``clock`` it is given (``wess.testing.FakeClock.monotonic`` in tests), so a test opens,
cools down and closes one without sleeping. The closed path reads no clock and
allocates nothing: ``allow`` and ``success`` on a closed breaker are two attribute
reads. Storage (reads and writes), the Redis rate-limit counters and each module that
keeps trapping or timing out have one (``docs/architecture.md``, Resilience).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


STATE_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}
"""The value of each state in ``wess_breaker_state``."""


@dataclass(frozen=True, slots=True)
class CircuitSnapshot:
    """A breaker as ``/readyz`` and the module resource show it."""

    state: CircuitState
    failures: int
    """Failures in a row so far (the one that opened it included)."""
    retry_after: int | None
    """Whole seconds until a probe may go, while open; None otherwise."""

    def to_dict(self) -> dict[str, object]:
        document: dict[str, object] = {"state": self.state.value, "failures": self.failures}
        if self.retry_after is not None:
            document["retry_after"] = self.retry_after
        return document


class CircuitBreaker:
    """One breaker; see the module docstring. ``on_change`` hears every new state."""

    def __init__(
        self,
        *,
        threshold: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[CircuitState], None] | None = None,
    ) -> None:
        if threshold < 1 or cooldown <= 0:
            raise ValueError("threshold must be >= 1 and cooldown > 0")
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> CircuitState:
        """The state now (an open breaker whose cool-down is over is half open)."""
        if self._state is CircuitState.OPEN and self._cooled():
            self._move(CircuitState.HALF_OPEN)
        return self._state

    @property
    def failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """Whether a call may go now: always while closed; once open, only the one probe
        after the cool-down (until it reports)."""
        if self._state is CircuitState.CLOSED:
            return True
        if self.state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        """A call found the dependency working: closes a half-open breaker. A call let
        through before the breaker opened that succeeds late changes nothing: the
        breaker waits for its own probe."""
        if self._state is CircuitState.CLOSED:
            self._failures = 0
            return
        if self._state is CircuitState.HALF_OPEN:
            self._probing = False
            self._failures = 0
            self._move(CircuitState.CLOSED)

    def failure(self) -> None:
        """A call found the dependency failing: counts, and opens the breaker at the
        threshold (or at once, for a failed probe)."""
        if self._state is CircuitState.OPEN:
            return
        self._failures += 1
        if self._state is CircuitState.HALF_OPEN or self._failures >= self.threshold:
            self._probing = False
            self._opened_at = self._clock()
            self._move(CircuitState.OPEN)

    def release(self) -> None:
        """A call let through ended with no verdict: if it was the probe, another may go."""
        self._probing = False

    def retry_after(self) -> int:
        """Whole seconds until a probe may go (at least 1): what a refusal tells a client."""
        left = self._opened_at + self.cooldown - self._clock()
        return max(1, math.ceil(left))

    def snapshot(self) -> CircuitSnapshot:
        state = self.state
        retry = self.retry_after() if state is CircuitState.OPEN else None
        return CircuitSnapshot(state=state, failures=self._failures, retry_after=retry)

    def _cooled(self) -> bool:
        return self._clock() >= self._opened_at + self.cooldown

    def _move(self, state: CircuitState) -> None:
        self._state = state
        if self._on_change is not None:
            self._on_change(state)
