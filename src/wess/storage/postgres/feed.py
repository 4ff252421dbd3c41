"""``PostgresFeed``: the change events of every node sharing a PostgreSQL store.

One connection per node LISTENs on the store's channel (``wess_<schema>``); every
commit that carries a ``PublishEvent`` notifies it inside its transaction, so an event
arrives only once its change is durable. A lost connection (the server restarted, the
network cut) ends listening: the gap listeners are told (the node drops its caches and
reports not ready), the feed reconnects with exponential backoff, and tells them again
once it listens (anything cached meanwhile may be stale). TCP keepalives bound how long
a silently dead connection goes unnoticed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Self

import psycopg
import structlog
from psycopg import sql
from psycopg.conninfo import make_conninfo

from wess.errors import InvalidRequest
from wess.storage.events import Event
from wess.wire import decode_event

logger = structlog.get_logger(__name__)

FIRST_RETRY = 0.1
LAST_RETRY = 5.0
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
}


def channel_of(schema: str) -> str:
    """The NOTIFY channel of the store in ``schema``: stores in one database stay apart."""
    return f"wess_{schema}"


class PostgresFeed:
    def __init__(self, conninfo: str, schema: str) -> None:
        self._conninfo = conninfo
        self._channel = channel_of(schema)
        self._listeners: list[Callable[[Event], None]] = []
        self._gap_listeners: list[Callable[[], None]] = []
        self._listening = False
        self._task: asyncio.Task[None] | None = None
        self.received = 0
        """Events delivered so far (for tests and metrics)."""

    @property
    def listening(self) -> bool:
        return self._listening

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def on_gap(self, listener: Callable[[], None]) -> None:
        self._gap_listeners.append(listener)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._listen(), name="wess-change-feed")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._listening = False

    async def _listen(self) -> None:
        delay = FIRST_RETRY
        while True:
            try:
                conninfo = make_conninfo(self._conninfo, **KEEPALIVES)
                conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
                async with conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self._listening = True
                    delay = FIRST_RETRY
                    self._gap()  # anything cached before listening may be stale
                    logger.info("listening to the change feed", channel=self._channel)
                    async for notify in conn.notifies():
                        self._deliver(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # lost or refused: retry, never end the task
                logger.warning("change feed lost", error=str(exc), retry_in=delay)
            if self._listening:
                self._listening = False
                self._gap()
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY)

    def _deliver(self, payload: str) -> None:
        try:
            event = decode_event(payload)
        except InvalidRequest as exc:
            logger.error("change feed event refused", error=exc.detail)
            self._gap()  # an event this node cannot read: drop what it may concern
            return
        self.received += 1
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("change listener failed")

    def _gap(self) -> None:
        for listener in self._gap_listeners:
            try:
                listener()
            except Exception:
                logger.exception("change gap listener failed")
