"""Rate limits per client IP and per API key or JWT subject, counted by ``limits``.

Limits are written in the ``limits`` notation (``1000/minute``, ``10/second``). Each
is a fixed window: one counter per (scope, identity, limit) that resets when the
window ends; it costs one increment per request (two Redis round trips: the
increment and the TTL) and allows at most twice the limit across a window edge.

Counters live in process memory (one node) or in Redis (``redis://...``, shared by
every node, through ``limits``' Redis storage), chosen by URL scheme in
``open_rate_limiter``. The memory counter is a plain dict on the event loop (see
``MemoryCounter`` for why not ``limits``' own).

**When Redis fails** (stopped, unreachable, or slower than ``ratelimit.redis_timeout_ms``)
the Redis counter sits behind a circuit breaker (``GuardedCounter``): after
``ratelimit.breaker_failures`` failures in a row it stops asking Redis for
``ratelimit.breaker_cooldown`` seconds, then one request probes it. Meanwhile, and for
each failed request, ``ratelimit.on_redis_failure`` decides: ``open`` (the default)
counts in this process's memory instead, so every node still enforces its limits on
its own (a client spread over N nodes may get up to N times its limit) and no request
waits on Redis; ``closed`` refuses the request with 503 ``ratelimit_unavailable`` and
``Retry-After``, for deployments where an uncounted request is worse than a refused
one. Either way it is counted in ``wess_ratelimit_degraded_total{outcome}`` and
reported by ``/readyz`` (with ``closed``, an open breaker is "not ready").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol
from urllib.parse import urlsplit

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

from wess.circuit import CircuitBreaker, CircuitState
from wess.errors import ConfigError, RateLimitUnavailable, StorageUnavailable
from wess.models import Role

DEFAULT_PER_IP = "1000/minute"
DEFAULT_PER_ROLE: Mapping[Role, str] = MappingProxyType(
    {
        Role.ADMIN: "6000/minute",
        Role.DEVELOPER: "3000/minute",
        Role.INVOKER: "3000/minute",
        Role.VIEWER: "600/minute",
    }
)


REDIS_TIMEOUT = 0.5
"""Seconds a Redis round trip (or connect) may take before it counts as a failure."""


class RedisFailurePolicy(StrEnum):
    """What a rate-limit check does when Redis cannot count it (module docstring)."""

    OPEN = "open"
    """Count in this process's memory instead."""
    CLOSED = "closed"
    """Refuse the request: 503 ``ratelimit_unavailable``."""


class RateScope(StrEnum):
    IP = "ip"
    """``identity`` is the client address."""
    KEY = "key"
    """``identity`` is the API key id or JWT subject; the limit follows its role."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RatePolicy:
    """Which limit applies to whom, in ``limits`` notation; validated on construction."""

    per_ip: str = DEFAULT_PER_IP
    per_role: Mapping[Role, str] = field(default_factory=lambda: dict(DEFAULT_PER_ROLE))
    per_key: Mapping[str, str] = field(default_factory=dict)
    """Overrides for single keys (by key id or JWT subject), over their role's limit."""

    def __post_init__(self) -> None:
        _item(self.per_ip, "per_ip")
        missing = [role.value for role in Role if role not in self.per_role]
        if missing:
            raise ConfigError(f"ratelimit.per_role: no limit for {', '.join(missing)}")
        for role, text in self.per_role.items():
            _item(text, f"per_role.{role}")
        for key_id, text in self.per_key.items():
            _item(text, f"per_key.{key_id}")


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one check: whether to serve, and what to tell the client."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    """Whole seconds until the window resets, from 0 (it ends now) to the window's length."""
    retry_after: int | None
    """Whole seconds to wait before retrying, at least 1; None when allowed."""


def decide(limit: int, count: int, reset_in: float, *, window: int) -> RateDecision:
    """The decision after the ``count``-th hit of a ``limit`` window ending in ``reset_in`` s.

    At the window's edge: ``RateLimit-Reset`` is the seconds left rounded up and kept
    within ``[0, window]``. It is 0 when the window ends now (or has just ended: Redis
    reports a key that expired between its increment and its TTL as no time left); a
    float clock's rounding (``(t + 60) - t`` may be 60.000000000007) never makes it
    longer than the window. A refusal's ``Retry-After`` is at least 1, so a client
    never retries at once into the same refusal.
    """
    reset = min(window, max(0, math.ceil(reset_in)))
    allowed = count <= limit
    return RateDecision(
        allowed=allowed,
        limit=limit,
        remaining=max(0, limit - count),
        reset=reset,
        retry_after=None if allowed else max(1, reset),
    )


class RateCounter(Protocol):
    """Counts hits in fixed windows; one implementation per storage."""

    async def hit(self, key: str, *, window: int, cost: int) -> tuple[int, float]:
        """Add ``cost`` to ``key``'s counter: (count now, seconds until it resets)."""
        ...

    async def aclose(self) -> None: ...


class MemoryCounter:
    """Fixed-window counters in this process, expired lazily.

    ``limits``' ``MemoryStorage`` keeps a thread that rescans every counter about every
    10 ms while holding the GIL (half a core with a million clients), and takes a lock
    per key; this runs on the event loop alone, so a dict suffices. Windows that ended
    are swept every ``SWEEP_EVERY`` hits, so memory follows the clients of the current
    window.
    """

    SWEEP_EVERY = 4096

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[Hashable, list[float]] = {}  # key -> [window end, count]
        self._hits = 0

    async def hit(self, key: str, *, window: int, cost: int) -> tuple[int, float]:
        return self.hit_now(key, window=window, cost=cost)

    def hit_now(self, key: Hashable, *, window: int, cost: int) -> tuple[int, float]:
        now = self._clock()
        entry = self._windows.get(key)
        if entry is None or entry[0] <= now:
            entry = self._windows[key] = [now + window, 0.0]
        entry[1] += cost
        self._hits += 1
        if self._hits >= self.SWEEP_EVERY:
            self._sweep(now)
        return int(entry[1]), entry[0] - now

    def _sweep(self, now: float) -> None:
        self._hits = 0
        self._windows = {k: v for k, v in self._windows.items() if v[0] > now}

    def __len__(self) -> int:
        return len(self._windows)

    async def aclose(self) -> None:
        self._windows.clear()


class RedisCounter:
    """Counters in Redis, shared by every node (``limits`` async ``RedisStorage``).

    ``clock`` is the wall clock (seconds since the epoch) that turns the key's expiry
    into seconds left: ``limits`` reports the expiry as wall time.
    """

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "wess-ratelimit",
        clock: Callable[[], float] = time.time,
        timeout: float = REDIS_TIMEOUT,
    ) -> None:
        self._clock = clock
        # Wess owns the pool so that it can close it; limits would not. A Redis that
        # stops answering must not hold requests: every round trip is bounded.
        self._pool = ConnectionPool.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._storage = RedisStorage(
            f"async+{url}",
            implementation="redispy",
            key_prefix=key_prefix,
            connection_pool=self._pool,  # type: ignore[arg-type]
        )

    async def hit(self, key: str, *, window: int, cost: int) -> tuple[int, float]:
        try:
            count = await self._storage.incr(key, window, amount=cost)
            return count, await self._storage.get_expiry(key) - self._clock()
        except RedisError as exc:
            # Whether to fail open is the caller's policy; this layer only reports.
            raise StorageUnavailable(f"rate limit counters unavailable: {exc}") from exc

    async def aclose(self) -> None:
        await self._pool.aclose()


class GuardedCounter:
    """A shared counter (Redis) behind a circuit breaker, with ``policy`` for the time it
    fails: count in ``fallback`` (this process's memory) or refuse. ``degraded(outcome)``
    hears each check that Redis did not count (``local`` or ``refused``)."""

    def __init__(
        self,
        shared: RateCounter,
        *,
        breaker: CircuitBreaker,
        policy: RedisFailurePolicy = RedisFailurePolicy.OPEN,
        fallback: MemoryCounter | None = None,
        degraded: Callable[[str], None] | None = None,
    ) -> None:
        self.breaker = breaker
        self.policy = policy
        self._shared = shared
        self._fallback = fallback or MemoryCounter()
        self._degraded = degraded

    @property
    def serving(self) -> bool:
        """False while requests are refused for want of Redis (``closed``, breaker open)."""
        return self.policy is RedisFailurePolicy.OPEN or self.breaker.state is not CircuitState.OPEN

    async def hit(self, key: str, *, window: int, cost: int) -> tuple[int, float]:
        breaker = self.breaker
        if breaker.allow():
            try:
                counted = await self._shared.hit(key, window=window, cost=cost)
            except StorageUnavailable as exc:
                breaker.failure()
                return self._instead(key, window, cost, str(exc))
            except BaseException:
                breaker.release()
                raise
            breaker.success()
            return counted
        return self._instead(key, window, cost, "its circuit breaker is open")

    def _instead(self, key: str, window: int, cost: int, why: str) -> tuple[int, float]:
        if self.policy is RedisFailurePolicy.OPEN:
            if self._degraded is not None:
                self._degraded("local")
            return self._fallback.hit_now(key, window=window, cost=cost)
        if self._degraded is not None:
            self._degraded("refused")
        retry_after = self.breaker.retry_after()
        raise RateLimitUnavailable(
            f"the rate-limit counters (Redis) cannot be reached ({why}), and requests are "
            f"not served uncounted (ratelimit.on_redis_failure = closed); retry in "
            f"{retry_after} s",
            retry_after=retry_after,
        )

    async def aclose(self) -> None:
        try:
            await self._shared.aclose()
        finally:
            await self._fallback.aclose()


class RateLimiter:
    """Checks and counts one request against the limit of a scope and identity."""

    def __init__(self, policy: RatePolicy, counter: RateCounter) -> None:
        self._counter = counter
        self.set_policy(policy)

    def set_policy(self, policy: RatePolicy) -> None:
        """Apply ``policy`` from the next check on (a reload). A limit whose amount
        changed counts from zero: counters are kept per amount."""
        self._per_ip = _item(policy.per_ip, "per_ip")
        self._per_role = {role: _item(text, role) for role, text in policy.per_role.items()}
        self._per_key = {key: _item(text, key) for key, text in policy.per_key.items()}

    def set_failure_policy(self, policy: RedisFailurePolicy) -> None:
        """What a check does while Redis cannot count it (no effect counting in memory)."""
        if isinstance(self._counter, GuardedCounter):
            self._counter.policy = policy

    @property
    def local(self) -> bool:
        """True when counting needs no I/O, so ``exceeded_now`` may be used."""
        return isinstance(self._counter, MemoryCounter)

    async def check(
        self, scope: RateScope, identity: str, *, role: Role | None = None, cost: int = 1
    ) -> RateDecision:
        """Count a request of ``identity`` and decide; ``role`` is needed for ``KEY``."""
        item, key, window = self._slot(scope, identity, role)
        count, reset_in = await self._counter.hit(key, window=window, cost=cost)
        return decide(item.amount, count, reset_in, window=window)

    def exceeded_now(
        self, scope: RateScope, identity: str, *, role: Role | None = None
    ) -> RateDecision | None:
        """For a ``local`` limiter: count one request; the refusal when over the limit,
        else None. The request hot path: nothing is allocated for an allowed request
        but the counter's own key."""
        counter = self._counter
        if not isinstance(counter, MemoryCounter):
            raise RuntimeError("exceeded_now needs a local (memory) counter")
        if scope is RateScope.IP:
            item = self._per_ip
        else:
            item = self._per_key.get(identity) or self._per_role[role]  # type: ignore[index]
        amount, window = item.amount, item.get_expiry()
        count, reset_in = counter.hit_now((scope, identity, amount), window=window, cost=1)
        return None if count <= amount else decide(amount, count, reset_in, window=window)

    def _slot(
        self, scope: RateScope, identity: str, role: Role | None
    ) -> tuple[RateLimitItem, str, int]:
        if scope is RateScope.IP:
            item = self._per_ip
        elif (override := self._per_key.get(identity)) is not None:
            item = override
        elif role is not None:
            item = self._per_role[role]
        else:
            raise ValueError("a KEY check needs the caller's role")
        window = item.get_expiry()
        return item, f"{scope}/{identity}/{item.amount}/{window}", window

    async def aclose(self) -> None:
        await self._counter.aclose()


COUNTERS = {"memory": "memory", "redis": "redis", "rediss": "redis"}
"""URL scheme -> counter implementation."""


def open_rate_limiter(
    url: str,
    policy: RatePolicy,
    *,
    key_prefix: str = "wess-ratelimit",
    breaker: CircuitBreaker | None = None,
    on_failure: RedisFailurePolicy = RedisFailurePolicy.OPEN,
    timeout: float = REDIS_TIMEOUT,
    degraded: Callable[[str], None] | None = None,
) -> RateLimiter:
    """A limiter counting in ``memory://`` or in Redis (``redis://``, ``rediss://``); Redis
    behind ``breaker`` (default: 5 failures, 5 s) with ``on_failure`` as its policy."""
    scheme = urlsplit(url).scheme
    kind = COUNTERS.get(scheme)
    if kind == "memory":
        return RateLimiter(policy, MemoryCounter())
    if kind == "redis":
        shared = RedisCounter(url, key_prefix=key_prefix, timeout=timeout)
        guarded = GuardedCounter(
            shared,
            breaker=breaker or CircuitBreaker(threshold=5, cooldown=5.0),
            policy=on_failure,
            degraded=degraded,
        )
        return RateLimiter(policy, guarded)
    raise ConfigError(
        f"ratelimit.storage: unsupported scheme {scheme!r}; use memory:// or redis://"
    )


def _item(text: str, name: str) -> RateLimitItem:
    try:
        return parse(text)
    except ValueError:
        raise ConfigError(
            f"ratelimit.{name}: {text!r} is not a limit such as '1000/minute'"
        ) from None
