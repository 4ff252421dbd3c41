"""Liveness and readiness: each dependency is a named probe that raises when it is not ready."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog

logger = structlog.get_logger(__name__)

Probe = Callable[[], Awaitable[None]]
PROBE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: Mapping[str, str]  # probe name -> "ok" or why it failed


class HealthCheck:
    """Runs every probe concurrently, each bounded by a timeout."""

    def __init__(self, probes: Mapping[str, Probe], *, timeout: float = PROBE_TIMEOUT) -> None:
        self._probes = dict(probes)
        self._timeout = timeout

    async def readiness(self) -> Readiness:
        names = list(self._probes)
        outcomes = await asyncio.gather(*(self._run(name) for name in names))
        checks = dict(zip(names, outcomes, strict=True))
        return Readiness(ready=all(v == "ok" for v in checks.values()), checks=checks)

    async def _run(self, name: str) -> str:
        try:
            await asyncio.wait_for(self._probes[name](), self._timeout)
        except TimeoutError:
            return f"no answer within {self._timeout:g}s"
        except Exception as exc:  # a probe's failure is data here, not a crash
            logger.warning("readiness probe failed", probe=name, error=str(exc))
            return str(exc) or type(exc).__name__
        return "ok"
