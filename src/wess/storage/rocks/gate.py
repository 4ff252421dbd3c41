"""``DurabilityGate``: readers never see a write before it is durable.

A commit is written with ``sync=False`` and then made durable by ``flush_wal(sync=True)``,
which, unlike a synced write, lets go of the GIL while the disk syncs: the rest of the
server runs meanwhile, and the Writer forms its next batch. But RocksDB makes a write
visible the moment it is written, before its sync. The gate closes that window: it is
closed from just before a batch is written until its sync returned, and every read
outside the write thread opens its point read or its iterator (whose view is fixed when
it is created) only while the gate is open. A reader that finds it closed waits for
that one sync (a few hundred microseconds on a read thread; the event loop goes on).

Fairness: readers waiting when the gate opens all get in before the next batch may be
written, and a reader that arrives while a writer waits for the gate waits for the next
opening, so neither side starves the other.

A sync that fails leaves a write visible that may not survive a crash: the gate then
breaks for good, every later read and write fails with ``StorageUnavailable``, and the
store must be reopened (RocksDB itself refuses writes after a failed sync).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from wess.errors import StorageUnavailable


class DurabilityGate:
    """Closed while a written batch waits for its sync; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._closed = False  # a batch is written and not yet synced
        self._closing = False  # a writer waits for the readers inside to leave
        self._readers = 0  # reads inside now
        self._waiting = 0  # readers waiting for the next opening
        self._admitted = 0  # readers let in by the last opening, not yet inside
        self._openings = 0
        self._broken: str | None = None

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the gate open for one point read or one iterator's creation."""
        lock = self._lock
        with lock:
            if self._broken is not None:
                raise StorageUnavailable(self._broken)
            if self._closed or self._closing:
                self._waiting += 1
                opening = self._openings
                while self._openings == opening and self._broken is None:
                    lock.wait()
                self._admitted -= 1
                if self._broken is not None:
                    raise StorageUnavailable(self._broken)
            self._readers += 1
        try:
            yield
        finally:
            with lock:
                self._readers -= 1
                if not self._readers:
                    lock.notify_all()

    def close(self) -> None:
        """Called by the writer before a write: wait for the readers inside (and those
        let in by the last opening), then keep new ones out until ``open``."""
        lock = self._lock
        with lock:
            self._closing = True
            try:
                while (self._closed or self._readers or self._admitted) and not self._broken:
                    lock.wait()
            finally:
                self._closing = False
            if self._broken is not None:
                raise StorageUnavailable(self._broken)
            self._closed = True

    def open(self) -> None:
        """Called once the batch written since ``close`` is durable."""
        with self._lock:
            self._closed = False
            self._admitted += self._waiting
            self._waiting = 0
            self._openings += 1
            self._lock.notify_all()

    def break_for_good(self, reason: str) -> None:
        """A sync failed: refuse every read and write from now on, with ``reason``."""
        with self._lock:
            self._broken = reason
            self._lock.notify_all()

    @property
    def broken(self) -> str | None:
        """Why the gate broke (None: it works)."""
        return self._broken


class GatedFamily:
    """A column family as readers see it: every point read, multi-get and iterator goes
    through ``gate``, except on the write thread (``writer()`` true there), whose reads
    plan the next batch and must see the batches written before it."""

    __slots__ = ("_family", "_gate", "_writer")

    def __init__(self, family: Any, gate: DurabilityGate, writer: Callable[[], bool]) -> None:
        self._family = family
        self._gate = gate
        self._writer = writer

    def get(self, key: bytes) -> Any:
        if self._writer():
            return self._family.get(key)
        with self._gate.reading():
            return self._family.get(key)

    def __getitem__(self, keys: list[bytes]) -> Any:
        """A multi-get: every key read at one sequence number."""
        if self._writer():
            return self._family[keys]
        with self._gate.reading():
            return self._family[keys]

    def iter(self) -> Any:
        """A raw iterator; its view is fixed when it is created, here, behind the gate."""
        if self._writer():
            return self._family.iter()
        with self._gate.reading():
            return self._family.iter()
