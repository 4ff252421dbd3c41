"""Telling the other nodes sharing a store what changed, and hearing what they changed.

``PublishEvent`` rides in a commit: a store shared by several nodes (PostgreSQL) sends
the event to all of them when, and only if, the commit is durable (``pg_notify`` in the
same transaction); a store one process owns ignores it (its Writer tells its own caches).
A shared store also offers a ``ChangeFeed``: the events every node published, delivered
to the listeners of this one, so each node drops what it cached of a changed module or a
revoked key. While a feed is not listening (its connection lost) it says so: the node
flushes its caches and reports itself not ready until it listens again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from wess.messages import ApiKeyChanged, ModuleChanged

Event = ModuleChanged | ApiKeyChanged


@dataclass(frozen=True, slots=True)
class PublishEvent:
    """Send ``event`` to every node sharing the store, once the commit is durable."""

    event: Event


class ChangeFeed(Protocol):
    """What the other nodes changed, for as long as ``async with`` lasts."""

    @property
    def listening(self) -> bool:
        """True while events are being received (none can be missed)."""
        ...

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` with every event received."""
        ...

    def on_gap(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever events may have been missed (the connection was
        lost), and again once listening resumes: caches must be dropped."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
