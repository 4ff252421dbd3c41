"""``ModuleBreakers``: a module whose calls keep timing out or trapping is refused for a while.

A module that loops until its timeout holds an invocation thread for the whole timeout
on every call; one that traps on every call wastes a fresh instance each time. After
``threshold`` such failures in a row (``runner.breaker_failures``: any ``ExecutionError``,
that is a trap, the memory limit or the call's own time limit) its breaker opens: its
calls are refused at once with ``ModuleCircuitOpen`` (503, ``Retry-After``) for
``cooldown`` seconds (``runner.breaker_cooldown``), then one call probes it, and a
success closes the breaker. A call that fails for another reason (bad arguments, the
request's deadline, a full queue) says nothing about the module and counts neither
way. A new revision of the module starts with a fresh breaker.

Breakers exist only for modules with failures since their last success, so the common
path (a module that works) costs one dict lookup per call and no allocation. State
changes and refusals are counted under ``breaker="module"``; ``wess_module_breakers_open``
tells how many modules are cooling down now; the module's resource shows its breaker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

import structlog

from wess.circuit import CircuitBreaker, CircuitSnapshot, CircuitState
from wess.errors import ExecutionError, ModuleCircuitOpen
from wess.observability.metrics import Metrics

logger = structlog.get_logger(__name__)

BREAKER = "module"


class ModuleBreakers:
    """One ``CircuitBreaker`` per failing module; see the module docstring."""

    def __init__(
        self,
        *,
        threshold: int,
        cooldown: float,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or cooldown <= 0:
            raise ValueError("threshold must be >= 1 and cooldown > 0")
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._metrics = metrics
        self._breakers: dict[UUID, CircuitBreaker] = {}
        self._rejections = metrics.breaker_rejections.labels(breaker=BREAKER)
        metrics.modules_cooling_down.set_function(self.open_count)

    def admit(self, module_id: UUID) -> None:
        """Let a call of ``module_id`` go, or refuse it with ``ModuleCircuitOpen``."""
        breaker = self._breakers.get(module_id)
        if breaker is None or breaker.allow():
            return
        self._rejections.inc()
        retry_after = breaker.retry_after()
        raise ModuleCircuitOpen(
            f"module {module_id} timed out or trapped on its last {breaker.failures} calls; "
            f"its calls are refused for {retry_after} s more (runner.breaker_cooldown), "
            "then one call tries it again",
            retry_after=retry_after,
            module_id=str(module_id),
        )

    def succeeded(self, module_id: UUID) -> None:
        """A call of ``module_id`` returned: its breaker (if any) closes and is dropped."""
        if not self._breakers:
            return
        breaker = self._breakers.get(module_id)
        if breaker is not None:
            breaker.success()
            if breaker.state is CircuitState.CLOSED:
                del self._breakers[module_id]

    def failed(self, module_id: UUID, error: ExecutionError) -> None:
        """A call of ``module_id`` trapped, ran out of memory or timed out."""
        breaker = self._breakers.get(module_id)
        if breaker is None:
            breaker = self._breakers[module_id] = CircuitBreaker(
                threshold=self.threshold,
                cooldown=self.cooldown,
                clock=self._clock,
                on_change=lambda state: self._changed(module_id, state),
            )
        before = breaker.state
        breaker.failure()
        if before is not CircuitState.OPEN and breaker.state is CircuitState.OPEN:
            logger.warning(
                "module circuit open: its calls are refused while it cools down",
                module_id=str(module_id),
                code=error.code,
                failures=breaker.failures,
                cooldown=self.cooldown,
            )

    def released(self, module_id: UUID) -> None:
        """A call of ``module_id`` ended with no verdict on the module."""
        if self._breakers:
            breaker = self._breakers.get(module_id)
            if breaker is not None:
                breaker.release()

    def snapshot(self, module_id: UUID) -> CircuitSnapshot | None:
        """The module's breaker, None while it has none (its calls work)."""
        breaker = self._breakers.get(module_id)
        return None if breaker is None else breaker.snapshot()

    def forget(self, module_id: UUID) -> None:
        """The module changed or went: its next revision starts afresh."""
        self._breakers.pop(module_id, None)

    def open_count(self) -> int:
        """Modules whose calls are refused now."""
        return sum(1 for b in self._breakers.values() if b.state is CircuitState.OPEN)

    def _changed(self, module_id: UUID, state: CircuitState) -> None:
        self._metrics.breaker_transitions.labels(breaker=BREAKER, state=state.value).inc()
        if state is CircuitState.CLOSED:
            logger.info("module circuit closed", module_id=str(module_id))
