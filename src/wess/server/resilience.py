"""Assembling the resilience parts from the settings: breakers, the storage wrappers, readiness.

Each circuit breaker gets its metrics here (``wess_breaker_state{breaker}`` read at
scrape time, ``wess_breaker_transitions_total``, ``wess_breaker_rejections_total``) and a
log line per change of state. Storage becomes, from the outside in::

    MeasuredStore -> BreakerStore -> BoundedStore -> RetryingStore -> the backend

so an open breaker refuses before a read takes a slot of the storage bulkhead, a read's
retries hold that slot, and the metrics see each call once, as the request saw it.
``Breakers`` is what ``/readyz`` reports of them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from wess.circuit import STATE_VALUES, CircuitBreaker, CircuitState
from wess.config import Settings
from wess.config.live import LiveSettings
from wess.observability.metrics import Metrics
from wess.security.ratelimit import RedisFailurePolicy
from wess.storage import Store
from wess.storage.bounded import BoundedStore
from wess.storage.breaking import BreakerStore
from wess.storage.retrying import RetryingStore, RetryPolicy
from wess.workers.breakers import ModuleBreakers
from wess.workers.deadline import Deadlines

logger = structlog.get_logger(__name__)

REDIS = "ratelimit_redis"


def watched_breaker(
    name: str,
    *,
    threshold: int,
    cooldown: float,
    metrics: Metrics,
    clock: Callable[[], float] = time.monotonic,
) -> CircuitBreaker:
    """A breaker whose state is exported and whose changes are counted and logged."""

    def changed(state: CircuitState) -> None:
        metrics.breaker_transitions.labels(breaker=name, state=state.value).inc()
        if state is CircuitState.OPEN:
            logger.warning(
                "circuit breaker open: calls are refused until a probe succeeds",
                breaker=name,
                failures=threshold,
                cooldown=cooldown,
            )
        else:
            logger.info(f"circuit breaker {state.value}", breaker=name)

    breaker = CircuitBreaker(threshold=threshold, cooldown=cooldown, clock=clock, on_change=changed)
    metrics.breaker_state.labels(breaker=name).set_function(lambda: STATE_VALUES[breaker.state])
    return breaker


def retry_policy(settings: Settings) -> RetryPolicy:
    """How a failed storage read is tried again (``database.retry_*``)."""
    database = settings.database
    return RetryPolicy(
        attempts=database.retry_attempts,
        initial=database.retry_initial_ms / 1000,
        maximum=database.retry_max_ms / 1000,
        budget=database.retry_budget_ms / 1000,
    )


def resilient_store(
    opened: Store,
    settings: Settings,
    *,
    metrics: Metrics,
    clock: Callable[[], float] = time.monotonic,
    live: LiveSettings | None = None,
) -> BreakerStore:
    """``opened`` with retried reads, the storage bulkhead and the two storage breakers;
    the retries and breakers follow ``live`` when given."""
    database = settings.database
    retrying = RetryingStore(opened, policy=retry_policy(settings), metrics=metrics, clock=clock)
    bounded = BoundedStore(retrying, limit=database.max_reads, metrics=metrics)

    def breaker(name: str) -> CircuitBreaker:
        return watched_breaker(
            name,
            threshold=database.breaker_failures,
            cooldown=database.breaker_cooldown,
            metrics=metrics,
            clock=clock,
        )

    def refused(name: str) -> None:
        metrics.breaker_rejections.labels(breaker=name).inc()

    store = BreakerStore(
        bounded, reads=breaker("storage_reads"), writes=breaker("storage_writes"), refused=refused
    )
    if live is not None:

        def follow(settings: Settings) -> None:
            retrying.policy = retry_policy(settings)
            for each in (store.reads, store.writes):
                retune(each, settings.database.breaker_failures, settings.database.breaker_cooldown)

        live.subscribe(follow)
    return store


def retune(breaker: CircuitBreaker, threshold: int, cooldown: float) -> None:
    """A breaker's threshold and cool-down from now on (a reload); its state stays."""
    breaker.threshold, breaker.cooldown = threshold, cooldown


def redis_breaker(settings: Settings, *, metrics: Metrics) -> CircuitBreaker:
    """The breaker in front of the Redis rate-limit counters."""
    return watched_breaker(
        REDIS,
        threshold=settings.ratelimit.breaker_failures,
        cooldown=settings.ratelimit.breaker_cooldown,
        metrics=metrics,
    )


def module_breakers(settings: Settings, *, metrics: Metrics) -> ModuleBreakers | None:
    """The modules' breakers; None when ``runner.breaker_failures`` is 0."""
    runner = settings.runner
    if not runner.breaker_failures:
        return None
    return ModuleBreakers(
        threshold=runner.breaker_failures, cooldown=runner.breaker_cooldown, metrics=metrics
    )


def deadlines(settings: Settings, *, metrics: Metrics) -> Deadlines:
    """Run requests' deadlines: ``server.request_timeout_ms``, shortened on request."""
    return Deadlines(settings.server.request_timeout_ms, metrics=metrics)


class Breakers:
    """Every breaker, as ``/readyz`` sees them: an open storage breaker (reads or
    writes) is "not ready", and so is an open Redis breaker under the ``closed``
    policy (requests are refused); under ``open`` Redis's breaker is only reported.
    A half-open breaker is ready: the next call probes."""

    def __init__(
        self,
        storage: BreakerStore,
        *,
        redis: CircuitBreaker | None = None,
        redis_policy: RedisFailurePolicy = RedisFailurePolicy.OPEN,
        modules: ModuleBreakers | None = None,
    ) -> None:
        self._storage = storage
        self._redis = redis
        self.redis_policy = redis_policy
        """``ratelimit.on_redis_failure`` (a reload sets it)."""
        self._modules = modules

    def _all(self) -> dict[str, CircuitBreaker]:
        found = self._storage.breakers()
        if self._redis is not None:
            found[REDIS] = self._redis
        return found

    async def probe(self) -> None:
        """Raise unless every breaker that readiness depends on is closed or probing."""
        failing = [
            name
            for name, breaker in self._all().items()
            if breaker.state is CircuitState.OPEN
            and (name != REDIS or self.redis_policy is RedisFailurePolicy.CLOSED)
        ]
        if failing:
            raise RuntimeError(f"circuit open: {', '.join(failing)}")

    def report(self) -> dict[str, object]:
        """Each breaker's state (``/readyz`` ``breakers``), and the modules cooling down."""
        document: dict[str, object] = {
            name: breaker.snapshot().to_dict() for name, breaker in self._all().items()
        }
        if self._redis is not None:
            document["ratelimit_policy"] = self.redis_policy.value
        if self._modules is not None:
            document["modules_open"] = self._modules.open_count()
        return document
