"""The node store: the Wess processes serving a store, from their heartbeats.

Every node records itself every few seconds; a node not heard from for a while is
gone. A store one process owns knows only that process; a shared one (PostgreSQL)
knows every node that beats into it.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Protocol, runtime_checkable

from wess.models import NodeInfo


@runtime_checkable
class NodeStore(Protocol):
    async def beat(self, node: NodeInfo) -> None:
        """Record that ``node`` is alive (``node.last_seen``)."""
        ...

    async def list(self, *, seen_since: datetime) -> builtins.list[NodeInfo]:
        """Every node heard from at ``seen_since`` or later, ordered by id."""
        ...


class LocalNodes:
    """The ``NodeStore`` of a store one process owns: that process, in memory."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeInfo] = {}

    async def beat(self, node: NodeInfo) -> None:
        self._nodes[node.id] = node

    async def list(self, *, seen_since: datetime) -> builtins.list[NodeInfo]:
        return sorted(
            (node for node in self._nodes.values() if node.last_seen >= seen_since),
            key=lambda node: node.id,
        )
