"""Liveness and readiness: each dependency is a named probe that raises when it is not ready.

Some checks are advisory: reported beside the others, never failing readiness (the
start-up warm-up: a server still loading compiled modules serves, only slower).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass

import structlog

logger = structlog.get_logger(__name__)

Probe = Callable[[], Awaitable[None]]
PROBE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: Mapping[str, str]  # probe name -> "ok" or why it failed
    advisory: frozenset[str] = frozenset()
    """The checks reported but not counted in ``ready``."""

    @property
    def required(self) -> dict[str, str]:
        """The checks that decide ``ready``."""
        return {name: v for name, v in self.checks.items() if name not in self.advisory}


class HealthCheck:
    """Runs every probe concurrently, each bounded by a timeout."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        *,
        timeout: float = PROBE_TIMEOUT,
        advisory: Collection[str] = (),
    ) -> None:
        self._probes = dict(probes)
        self._timeout = timeout
        self._advisory = frozenset(advisory)

    def add(self, name: str, probe: Probe, *, advisory: bool = False) -> None:
        """One more check: the serving layer adds its own (draining, listeners) once the
        server it probes exists."""
        self._probes[name] = probe
        if advisory:
            self._advisory |= {name}

    async def readiness(self) -> Readiness:
        names = list(self._probes)
        outcomes = await asyncio.gather(*(self._run(name) for name in names))
        checks = dict(zip(names, outcomes, strict=True))
        ready = all(v == "ok" for name, v in checks.items() if name not in self._advisory)
        return Readiness(ready=ready, checks=checks, advisory=self._advisory)

    async def _run(self, name: str) -> str:
        try:
            await asyncio.wait_for(self._probes[name](), self._timeout)
        except TimeoutError:
            return f"no answer within {self._timeout:g}s"
        except Exception as exc:  # a probe's failure is data here, not a crash
            if name not in self._advisory:
                logger.warning("readiness probe failed", probe=name, error=str(exc))
            return str(exc) or type(exc).__name__
        return "ok"


class Lifecycle:
    """Whether the server is stopping: set the moment a stop signal arrives, so readiness
    fails at once (a load balancer stops sending new requests) while the requests in
    flight finish."""

    def __init__(self) -> None:
        self.draining = False

    def drain(self) -> None:
        self.draining = True

    async def probe(self) -> None:
        if self.draining:
            raise RuntimeError("draining: stopping, finishing the requests in flight")
