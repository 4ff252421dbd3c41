"""What a store found damaged while serving: unreadable records, skipped key ranges.

A damaged block on disk costs the records in it, not the service: reads of those
records fail with ``IntegrityError`` (never executed), scans step over the block and
go on, and each is noted here, so ``/readyz`` and the metrics can say that the store
is damaged and how much, and ``wess verify`` can be run. Thread-safe: reads run on the
storage's threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

EXAMPLES = 10
"""How many damaged places a report names (the counts cover them all)."""


@dataclass(frozen=True, slots=True)
class DamageReport:
    unreadable: int
    """Reads of a single record that the backend reported as corrupt."""
    skipped_ranges: int
    """Key ranges a scan stepped over because their block could not be read."""
    examples: tuple[str, ...]

    @property
    def damaged(self) -> bool:
        return bool(self.unreadable or self.skipped_ranges)

    def to_dict(self) -> dict[str, Any]:
        return {
            "unreadable": self.unreadable,
            "skipped_ranges": self.skipped_ranges,
            "examples": list(self.examples),
        }


NO_DAMAGE = DamageReport(0, 0, ())


class DamageLog:
    """Counts damage as it is met; ``report`` says what was seen so far."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._unreadable: set[str] = set()
        self._skipped: set[tuple[str, bytes]] = set()
        self._examples: list[str] = []

    def unreadable(self, what: str) -> None:
        """A record (``what`` names it) could not be read."""
        with self._lock:
            if what not in self._unreadable:
                self._unreadable.add(what)
                self._example(f"unreadable: {what}")

    def skipped(self, family: str, after: bytes, resumed: bytes | None) -> None:
        """A scan of ``family`` stepped from just after ``after`` to ``resumed``."""
        with self._lock:
            if (family, after) not in self._skipped:
                self._skipped.add((family, after))
                end = "the end" if resumed is None else repr(resumed[:48])
                self._example(f"skipped in {family}: after {after[:48]!r} to {end}")

    def report(self) -> DamageReport:
        with self._lock:
            return DamageReport(len(self._unreadable), len(self._skipped), tuple(self._examples))

    def _example(self, text: str) -> None:
        if len(self._examples) < EXAMPLES:
            self._examples.append(text)
