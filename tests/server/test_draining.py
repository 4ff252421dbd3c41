"""The serving layer's readiness checks: a stop signal turns ``draining`` on at once
(before uvicorn notices it), and ``listeners`` fails while nothing accepts."""

from __future__ import annotations

import signal

import uvicorn

from wess.observability.health import HealthCheck, Lifecycle
from wess.server.serving import DrainingServer, _signals_handled_by_uvicorn


async def test_the_stop_signal_fails_readiness_at_once() -> None:
    """handle_exit (uvicorn's SIGTERM handler) marks the server draining and asks
    uvicorn to stop; before start-up no listener accepts."""
    lifecycle = Lifecycle()
    server = DrainingServer(uvicorn.Config(app=None), lifecycle=lifecycle)  # type: ignore[arg-type]
    health = HealthCheck({"draining": lifecycle.probe, "listeners": server.listening})
    before = await health.readiness()
    assert before.checks == {"draining": "ok", "listeners": "not accepting connections"}
    server.handle_exit(signal.SIGTERM, None)
    after = await health.readiness()
    assert not after.ready
    assert after.checks["draining"].startswith("draining")
    assert server.should_exit


def test_a_stop_signal_before_uvicorn_takes_the_signals_still_stops_the_server() -> None:
    """A SIGTERM between start-up and uvicorn installing its own handler (a supervisor
    stopping a worker it just started) is not lost: the server will skip its main loop
    (it once served on until killed); the process itself does not die of the signal."""
    lifecycle = Lifecycle()
    server = DrainingServer(uvicorn.Config(app=None), lifecycle=lifecycle)  # type: ignore[arg-type]
    before = signal.getsignal(signal.SIGTERM)
    with _signals_handled_by_uvicorn(server):
        signal.raise_signal(signal.SIGTERM)
    assert server.should_exit
    assert lifecycle.draining
    assert signal.getsignal(signal.SIGTERM) is before  # restored
