"""Connections that do not send: header and body deadlines, and a cap per client address.

uvicorn closes a keep-alive connection that stays idle between requests, and nothing
else: a connection that never finishes its headers, or stalls in the middle of a body,
stays open for as long as the client likes (slowloris), and one address may open as
many as it likes. ``GuardedHttpProtocol`` is uvicorn's httptools protocol plus:

- a **header deadline**: from the moment a connection is accepted, or from a request's
  first byte after a keep-alive pause, its headers must be complete within
  ``server.header_timeout``; a client sending one byte a second is closed all the same;
- a **body deadline**: while a request body is incomplete, ``server.body_timeout``
  without a byte closes the connection, unless Wess itself holds the body back (flow
  control, an ``Expect: 100-continue`` not answered yet). The app's ``receive()`` then
  returns ``http.disconnect``, so its bounded body read ends (``ClientGone``, 499);
- a **cap per client address** (``server.max_connections_per_client``, trusted
  proxies excepted): a connection past it is closed as soon as it is accepted.

The deadlines are event-loop timers (``call_later``), at most one per connection: armed
when a connection is accepted, and after a read that leaves a request incomplete; the
common request that arrives whole in one read arms none.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = structlog.get_logger("wess.http")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionRules:
    header_timeout: float
    body_timeout: float
    max_per_client: int
    exempt: tuple[str, ...] = ()
    """Addresses or networks whose connections are not capped (the trusted proxies,
    through which many clients come)."""


class ClientConnections:
    """How many connections each client address holds open, within a cap. Pure: the
    protocol calls ``admit`` when it accepts a connection and ``release`` when it ends."""

    def __init__(self, *, limit: int, exempt: Iterable[str] = ()) -> None:
        self.limit = limit
        """The cap per address (a reload may change it: connections above a lowered cap
        stay, new ones wait for the count to fall below it)."""
        self._open: dict[str, int] = {}
        networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in exempt)

        @lru_cache(maxsize=1024)
        def exempted(address: str) -> bool:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                return False
            return any(ip in network for network in networks)

        self._exempted = exempted if networks else None

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``; False (not counted) past the cap."""
        if self._exempted is not None and self._exempted(address):
            return True
        count = self._open.get(address, 0)
        if count >= self.limit:
            return False
        self._open[address] = count + 1
        return True

    def release(self, address: str) -> None:
        """A connection ``admit`` counted has ended."""
        count = self._open.get(address, 0)
        if count > 1:
            self._open[address] = count - 1
        else:
            self._open.pop(address, None)

    def open_from(self, address: str) -> int:
        return self._open.get(address, 0)


def guarded_protocol(rules: ConnectionRules) -> type[GuardedHttpProtocol]:
    """The protocol class of one server: its connections share ``rules`` and one count
    (uvicorn makes a protocol per connection from the class it is given)."""

    class ServerProtocol(GuardedHttpProtocol):
        pass

    ServerProtocol.rules = rules
    ServerProtocol.clients = ClientConnections(limit=rules.max_per_client, exempt=rules.exempt)
    return ServerProtocol


def reconfigure(protocol: type[GuardedHttpProtocol], rules: ConnectionRules) -> None:
    """New deadlines and cap for the connections of ``protocol``'s server (a reload):
    open connections see them from their next deadline on."""
    protocol.rules = rules
    protocol.clients.limit = rules.max_per_client


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and a per-address cap
    (see the module's docstring); ``guarded_protocol`` makes the class of a server.

    Where a request stands is read from uvicorn's own state after each read, not from
    overridden parser callbacks: a request's headers are complete once uvicorn made its
    ``cycle`` (``cycle.scope is scope``), its body once ``cycle.more_body`` is False.
    The one timer is re-armed, when it fires, for whatever is due then.
    """

    rules: ClassVar[ConnectionRules]
    clients: ClassVar[ClientConnections]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._timed_scope: object = None
        """The request whose headers ``_headers_since`` times (None: the connection)."""
        self._headers_since = 0.0
        self._last_byte = 0.0
        self._counted: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        if address is not None:
            if not self.clients.admit(address):
                logger.info(
                    "connection refused: too many from one address",
                    client_ip=address,
                    limit=self.rules.max_per_client,
                )
                transport.close()
                return
            self._counted = address
        self._headers_since = self.loop.time()  # the first request's headers are due
        self._arm(self.rules.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._counted is not None:
            self.clients.release(self._counted)
            self._counted = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        scope = self.scope
        if cycle is not None and cycle.scope is scope:  # this request's headers are in
            if not cycle.more_body:
                return  # the whole request is in: nothing is due (the common case)
            self._last_byte = self.loop.time()
            if self._deadline is None:
                self._arm(self.rules.body_timeout)
            return
        if scope is not self._timed_scope:  # a new request began in this read
            self._timed_scope = scope
            self._headers_since = self.loop.time()
        if self._deadline is None:
            self._arm(self.rules.header_timeout)

    def _arm(self, delay: float) -> None:
        self._deadline = self.loop.call_later(delay, self._expired)

    def _expired(self) -> None:
        """What is due now: nothing (between requests), or the headers or body of the
        request in progress; close if it is late, else wait for its deadline."""
        self._deadline = None
        if self.transport.is_closing():
            return
        rules = self.rules
        cycle = self.cycle
        if cycle is None or cycle.scope is not self.scope:  # reading headers
            if cycle is not None and not cycle.response_complete:
                # a pipelined request: the one before it is still being answered
                self._arm(rules.header_timeout)
                return
            part, timeout, due = "headers", rules.header_timeout, self._headers_since
        elif cycle.more_body:  # reading the body
            if self.flow.read_paused or cycle.waiting_for_100_continue:
                self._arm(rules.body_timeout)  # Wess holds the body back, not the client
                return
            part, timeout, due = "body", rules.body_timeout, self._last_byte
        else:
            return  # between requests: uvicorn's keep-alive timeout applies
        late = self.loop.time() - due
        if late < timeout:
            self._arm(timeout - late)
            return
        logger.info(
            f"connection closed: the request {part} stalled",
            client_ip=self.client[0] if self.client else None,
            timeout_s=timeout,
        )
        self.transport.close()
