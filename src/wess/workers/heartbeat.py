"""``Heartbeat``: this node telling the store it is alive, every few seconds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import structlog

from wess.errors import WessError
from wess.models import NodeInfo
from wess.storage import NodeStore
from wess.workers.periodic import PeriodicFlush

logger = structlog.get_logger(__name__)

INTERVAL = 5.0
"""Seconds between heartbeats."""
LIVE_FOR = timedelta(seconds=3 * INTERVAL)
"""A node not heard from for this long is no longer listed."""


class Heartbeat(PeriodicFlush):
    """Records ``node`` in ``nodes`` at start, every ``interval`` seconds, and at exit."""

    name = "wess-heartbeat"

    def __init__(
        self,
        nodes: NodeStore,
        node: NodeInfo,
        *,
        interval: float = INTERVAL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(interval=interval)
        self._nodes = nodes
        self.node = node
        self._clock = clock

    async def __aenter__(self) -> Heartbeat:
        await self.flush()  # known at once, not an interval later
        await super().__aenter__()
        return self

    async def flush(self) -> None:
        self.node = replace(self.node, last_seen=self._clock())
        try:
            await self._nodes.beat(self.node)
        except WessError as exc:  # the store is down: readiness says so already
            logger.warning("heartbeat not recorded", reason=exc.code)

    async def live(self) -> list[NodeInfo]:
        """The nodes heard from recently, this one included."""
        return await self._nodes.list(seen_since=self._clock() - LIVE_FOR)
