"""``FakeClock``: time that moves only when a test says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2025, 6, 1, tzinfo=UTC)


class FakeClock:
    """One fake instant, read in the forms Wess's parts take a clock in.

    Calling it answers a UTC ``datetime`` (the Writer's clock); ``monotonic`` and
    ``time`` answer seconds (the caches' and the rate limiters' clocks). It moves by
    ``advance``, and by ``step`` seconds before each reading when ``step`` is set, so
    consecutive readings differ (``FakeClock(step=1)``: one second per reading).
    """

    def __init__(self, start: datetime = START, *, step: float = 0.0) -> None:
        if start.tzinfo is None:
            raise ValueError("a FakeClock starts at an aware datetime")
        self._start = start
        self._elapsed = 0.0
        self._step = step

    @property
    def now(self) -> datetime:
        """The current instant, without moving the clock."""
        return self._start + timedelta(seconds=self._elapsed)

    def __call__(self) -> datetime:
        self._elapsed += self._step
        return self.now

    def monotonic(self) -> float:
        """Seconds since the clock started."""
        self._elapsed += self._step
        return self._elapsed

    def time(self) -> float:
        """Seconds since the Unix epoch."""
        self._elapsed += self._step
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._elapsed += seconds
