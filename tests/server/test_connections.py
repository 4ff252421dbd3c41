"""Connection deadlines and the per-address cap, driven through uvicorn's own protocol
with a fake clock: what closes a connection, and what must not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from wess.server.connections import ClientConnections, ConnectionRules, guarded_protocol

RULES = ConnectionRules(header_timeout=10.0, body_timeout=30.0, max_per_client=2)
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
UPLOAD_HEAD = b"POST /v1/modules HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 100\r\n\r\n"


class Handle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """The parts of an event loop the protocol uses: a clock moved by hand, timers,
    and tasks that never run (the app's answer is played by the test)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[Handle] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        handle = Handle(self.now + delay, callback)
        self.timers.append(handle)
        return handle

    def create_task(self, coroutine: Any, **_: Any) -> Any:
        coroutine.close()
        return FakeTask()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while due := [h for h in self.timers if not h.cancelled and h.when <= self.now]:
            for handle in due:
                self.timers.remove(handle)
                handle.callback()

    @property
    def armed(self) -> int:
        return sum(not h.cancelled for h in self.timers)


class FakeTask:
    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        pass


class FakeTransport:
    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.closed = False
        self.reading = True
        self.protocol: Any = None

    def get_extra_info(self, name: str) -> Any:
        return {"peername": (self.peer, 50000), "sockname": ("127.0.0.1", 8080)}.get(name)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.protocol.connection_lost(None)

    def write(self, data: bytes) -> None:
        pass

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


async def no_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the app is not run in these tests")


@pytest.fixture
def loop() -> FakeLoop:
    return FakeLoop()


@pytest.fixture
def connect(loop: FakeLoop) -> Callable[..., tuple[Any, FakeTransport]]:
    """Accept a connection from ``peer`` on one server's protocol class."""
    config = uvicorn.Config(no_app, lifespan="off", log_config=None, ws="none")
    config.load()
    protocol_class = guarded_protocol(RULES)
    state = ServerState()

    def accept(peer: str = "192.0.2.1") -> tuple[Any, FakeTransport]:
        protocol = protocol_class(config=config, server_state=state, app_state={}, _loop=loop)
        transport = FakeTransport(peer)
        transport.protocol = protocol
        protocol.connection_made(transport)
        return protocol, transport

    return accept


def answered(protocol: Any) -> None:
    """Play the app's answer to the request in progress."""
    protocol.cycle.response_complete = True
    protocol.on_response_complete()


def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(loop, connect):
    """Accepted and silent: closed header_timeout later, not before."""
    _, transport = connect()
    loop.advance(9.9)
    assert not transport.closed
    loop.advance(0.2)
    assert transport.closed


def test_headers_sent_a_byte_at_a_time_do_not_move_the_deadline(loop, connect):
    """A slowloris: each byte arrives, the headers never finish, the deadline holds."""
    protocol, transport = connect()
    for byte in REQUEST[:9]:
        protocol.data_received(bytes([byte]))
        loop.advance(1.0)
    assert not transport.closed
    for byte in REQUEST[9:12]:
        if not transport.closed:
            protocol.data_received(bytes([byte]))
            loop.advance(1.0)
    assert transport.closed


def test_a_request_arriving_whole_arms_no_timer(loop, connect):
    """The common case costs no timer: a request arriving in one read arms none (the one
    armed when the connection was accepted finds nothing due and closes nothing)."""
    protocol, transport = connect()
    assert loop.armed == 1
    protocol.data_received(REQUEST)
    assert loop.armed == 1
    answered(protocol)
    keep_alive = loop.armed - 1  # uvicorn's own
    assert keep_alive == 1
    protocol.data_received(REQUEST)  # uvicorn cancels its keep-alive timer
    assert loop.armed == 1
    loop.advance(RULES.header_timeout * 2)
    assert not transport.closed


def test_the_header_deadline_starts_at_a_requests_first_byte_after_keep_alive(loop, connect):
    """After an answered request, the next request's headers are due header_timeout after
    its first byte, however long the connection was idle before it."""
    protocol, transport = connect()
    protocol.data_received(REQUEST)
    answered(protocol)
    loop.advance(4.0)  # within uvicorn's 5 s keep-alive
    protocol.data_received(REQUEST[:5])
    loop.advance(9.0)
    assert not transport.closed
    loop.advance(1.5)
    assert transport.closed


def test_a_body_that_keeps_coming_is_not_closed_but_one_that_stalls_is(loop, connect):
    """The body deadline counts from the last byte: a slow but moving body goes on; a
    gap of body_timeout closes the connection."""
    protocol, transport = connect()
    protocol.data_received(UPLOAD_HEAD + b"x")
    for _ in range(5):
        loop.advance(20.0)
        protocol.data_received(b"x")
    assert not transport.closed
    loop.advance(29.0)
    assert not transport.closed
    loop.advance(2.0)
    assert transport.closed


def test_a_body_held_back_by_the_server_is_not_the_clients_stall(loop, connect):
    """While Wess paused reading (flow control) or has not yet answered Expect:
    100-continue, the client cannot send: no deadline closes the connection."""
    protocol, transport = connect()
    protocol.data_received(UPLOAD_HEAD + b"x")
    protocol.flow.pause_reading()
    loop.advance(RULES.body_timeout * 3)
    assert not transport.closed
    protocol.flow.resume_reading()
    loop.advance(RULES.body_timeout * 1.5)
    assert transport.closed

    protocol, transport = connect()
    protocol.data_received(UPLOAD_HEAD.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
    loop.advance(RULES.body_timeout * 3)
    assert not transport.closed


def test_a_pipelined_request_waits_while_the_one_before_is_answered(loop, connect):
    """Part of a second request arriving while the first is still being answered is not
    a slow client: its deadline waits for the answer."""
    protocol, transport = connect()
    protocol.data_received(REQUEST + REQUEST[:10])
    loop.advance(RULES.header_timeout * 3)
    assert not transport.closed
    answered(protocol)
    loop.advance(RULES.header_timeout * 1.5)
    assert transport.closed


def test_connections_past_the_cap_are_closed_and_counted_back(loop, connect):
    """Two connections per address: a third from it is closed at once, another address
    is served; when one ends, the address may connect again."""
    first, _ = connect("192.0.2.1")
    connect("192.0.2.1")
    _, third = connect("192.0.2.1")
    assert third.closed
    _, other = connect("192.0.2.2")
    assert not other.closed
    first.transport.close()
    _, again = connect("192.0.2.1")
    assert not again.closed


def test_client_connections_count_per_address_and_spare_trusted_proxies():
    """admit counts up to the limit, release counts down (and forgets the address at
    zero); addresses of the exempt networks are never counted nor refused."""
    clients = ClientConnections(limit=2, exempt=["10.0.0.0/8", "::1"])
    assert clients.admit("192.0.2.1")
    assert clients.admit("192.0.2.1")
    assert not clients.admit("192.0.2.1")
    assert clients.open_from("192.0.2.1") == 2
    clients.release("192.0.2.1")
    assert clients.admit("192.0.2.1")
    for _ in range(5):
        assert clients.admit("10.1.2.3")
        assert clients.admit("::1")
    assert clients.open_from("10.1.2.3") == 0
    clients.release("192.0.2.1")
    clients.release("192.0.2.1")
    clients.release("192.0.2.1")  # an extra release never goes below zero
    assert clients.open_from("192.0.2.1") == 0
