"""What the request guards of issue 8 add to one request: the Host/Origin check
(``wess.api.sites.SiteCheck``) and the connection deadlines
(``wess.server.connections.GuardedHttpProtocol``).

A micro-benchmark, not one of the P1-P7 figures; nanoseconds per request, best of five
interleaved rounds:

- the site check, called directly in one event loop around an ASGI app that answers
  nothing, with the headers of a typical run request (Host, Content-Type,
  Content-Length, Authorization): the bare app, the app behind the check, and the check
  answering an allowed cross-origin request (CORS headers added);
- the protocol, fed a whole keep-alive request (one read, as nearly every request
  arrives) through uvicorn's httptools protocol and through Wess's subclass, on a
  transport that discards what is written and a loop whose tasks do not run.

    .venv/bin/python bench/request_guards.py [--requests 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from wess.api.sites import SiteCheck, SitePolicy
from wess.observability.metrics import Metrics
from wess.server.connections import ConnectionRules, guarded_protocol

HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"content-type", b"application/json"),
    (b"content-length", b"14"),
    (b"authorization", b"Bearer wess_0123456789abcdef_" + b"A" * 43),
]
ORIGIN = (b"origin", b"https://app.example")
REQUEST = (
    b"POST /v1/modules/0/run HTTP/1.1\r\n"
    + b"".join(name + b": " + value + b"\r\n" for name, value in HEADERS)
    + b"\r\n"
    + b'{"args":[1,2]}'
)
ROUNDS = 5


async def bare(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})


async def discard(message: Any) -> None:
    return None


async def receive() -> Any:
    return {"type": "http.request", "body": b"", "more_body": False}


async def through_app(app: Any, headers: list[tuple[bytes, bytes]], count: int) -> float:
    scope = {"type": "http", "method": "POST", "path": "/", "scheme": "http", "headers": headers}
    start = time.perf_counter()
    for _ in range(count):
        await app(dict(scope), receive, discard)
    return (time.perf_counter() - start) / count * 1e9


async def site_check(count: int) -> dict[str, float]:
    policy = SitePolicy.for_address(
        "127.0.0.1", 8080, loopback=True, cors_origins=["https://app.example"]
    )
    checked = SiteCheck(bare, policy=policy, metrics=Metrics())
    rounds: dict[str, list[float]] = {"bare app": [], "behind SiteCheck": [], "cross-origin": []}
    for _ in range(ROUNDS):
        rounds["bare app"].append(await through_app(bare, HEADERS, count))
        rounds["behind SiteCheck"].append(await through_app(checked, HEADERS, count))
        rounds["cross-origin"].append(await through_app(checked, [*HEADERS, ORIGIN], count))
    return {name: min(times) for name, times in rounds.items()}


class Transport:
    def get_extra_info(self, name: str) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name)

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Task:
    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        pass


class Timer:
    def cancel(self) -> None:
        pass


class Loop:
    """Timers that never fire (the bench measures arming and cancelling them)."""

    def time(self) -> float:
        return 0.0

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return Timer()

    def create_task(self, coroutine: Any, **_: Any) -> Task:
        coroutine.close()
        return Task()


def through_protocol(protocol_class: type[HttpToolsProtocol], count: int) -> float:
    config = uvicorn.Config(bare, lifespan="off", log_config=None, ws="none")
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={}, _loop=Loop())  # type: ignore[arg-type]
    protocol.connection_made(Transport())  # type: ignore[arg-type]
    start = time.perf_counter()
    for _ in range(count):
        protocol.data_received(REQUEST)
        protocol.cycle.response_complete = True
        protocol.on_response_complete()
    return (time.perf_counter() - start) / count * 1e9


def protocol(count: int) -> dict[str, float]:
    guarded = guarded_protocol(
        ConnectionRules(header_timeout=10.0, body_timeout=30.0, max_per_client=128)
    )
    rounds: dict[str, list[float]] = {"uvicorn's protocol": [], "Wess's protocol": []}
    for _ in range(ROUNDS):
        rounds["uvicorn's protocol"].append(through_protocol(HttpToolsProtocol, count))
        rounds["Wess's protocol"].append(through_protocol(guarded, count))
    return {name: min(times) for name, times in rounds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    count = parser.parse_args().requests
    sites = asyncio.run(site_check(count))
    parsed = protocol(count // 4)
    for name, ns in [*sites.items(), *parsed.items()]:
        print(f"{name:>22}: {ns:7.0f} ns/request")
    added = sites["behind SiteCheck"] - sites["bare app"]
    print(f"{'site check adds':>22}: {added:7.0f} ns/request")
    added = parsed["Wess's protocol"] - parsed["uvicorn's protocol"]
    print(f"{'deadlines add':>22}: {added:7.0f} ns/request")


if __name__ == "__main__":
    main()
