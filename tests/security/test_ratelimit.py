"""Rate limits: decisions, headers, policies, and counting in memory and in real Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from wess.errors import ConfigError, RateLimitUnavailable, StorageUnavailable
from wess.models import Role
from wess.security.ratelimit import (
    DEFAULT_PER_ROLE,
    MemoryCounter,
    RateDecision,
    RateLimiter,
    RatePolicy,
    RateScope,
    RedisCounter,
    RedisFailurePolicy,
    decide,
    open_rate_limiter,
)
from wess.testing import FakeClock

POLICY = RatePolicy(
    per_ip="3/minute",
    per_role={**DEFAULT_PER_ROLE, Role.VIEWER: "2/minute"},
    per_key={"vip": "5/minute"},
)
MINUTE = 60


def at(seconds: float) -> FakeClock:
    """A fake clock whose ``time()`` reads ``seconds`` now."""
    return FakeClock(datetime.fromtimestamp(seconds, UTC))


@pytest.fixture(params=["memory", "redis"])
async def limiter(request):
    """The same limiter counting in process memory, then in the real Redis."""
    if request.param == "memory":
        rate_limiter = RateLimiter(POLICY, MemoryCounter(clock=at(1000.0).time))
    else:
        url, prefix = request.getfixturevalue("redis_url")
        rate_limiter = open_rate_limiter(url, POLICY, key_prefix=prefix)
    yield rate_limiter
    await rate_limiter.aclose()


def test_decide_counts_down_then_refuses_with_retry_after():
    """Up to the limit requests are allowed with what is left; past it, refused with a wait."""
    assert decide(3, 1, 59.2, window=MINUTE) == RateDecision(True, 3, 2, 60, None)
    assert decide(3, 3, 10.0, window=MINUTE) == RateDecision(True, 3, 0, 10, None)
    assert decide(3, 4, 10.0, window=MINUTE) == RateDecision(False, 3, 0, 10, 10)
    assert decide(3, 9, 0.0, window=MINUTE).retry_after == 1


@pytest.mark.parametrize("reset_in", [0.0, -0.4])
def test_at_the_window_edge_reset_is_zero_and_retry_after_is_one(reset_in):
    """A window that ends now (or just ended, as Redis may report) has RateLimit-Reset 0;
    a refusal still says Retry-After: 1, never 0, so the client does not retry at once."""
    refused = decide(3, 4, reset_in, window=MINUTE)
    assert (refused.reset, refused.retry_after) == (0, 1)
    assert decide(3, 2, reset_in, window=MINUTE).reset == 0


def test_reset_never_exceeds_the_window():
    """Seconds left are rounded up but capped at the window's length."""
    assert decide(3, 1, 60.000000000007276, window=MINUTE).reset == 60
    assert decide(3, 1, 0.001, window=MINUTE).reset == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_ip": "lots"},
        {"per_ip": "5/fortnight"},
        {"per_role": {Role.ADMIN: "1/second"}},
        {"per_key": {"k": "-1/minute"}},
    ],
)
def test_bad_policies_are_config_errors(kwargs):
    """Unparsable limits, or a role without a limit, are refused when the policy is built."""
    with pytest.raises(ConfigError, match="ratelimit"):
        RatePolicy(**kwargs)


def test_unknown_storage_schemes_are_config_errors():
    """Only memory:// and redis:// (rediss://) are accepted."""
    with pytest.raises(ConfigError, match="memory:// or redis://"):
        open_rate_limiter("memcached://localhost", POLICY)


async def test_per_ip_limit_refuses_the_request_past_the_limit(limiter: RateLimiter):
    """The fourth request of an IP in a 3/minute window is refused; other IPs are unaffected."""
    decisions = [await limiter.check(RateScope.IP, "10.0.0.1") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert all(0 <= d.reset <= MINUTE for d in decisions)
    assert decisions[-1].retry_after == max(1, decisions[-1].reset)
    assert (await limiter.check(RateScope.IP, "10.0.0.2")).allowed


async def test_memory_limits_report_the_seconds_left_up_to_the_window_edge():
    """On a controlled clock: the window's full length at first, what is left later,
    1 s just before the edge, and exactly at the edge a fresh window."""
    clock = at(1000.0)
    limiter = RateLimiter(POLICY, MemoryCounter(clock=clock.time))
    first = [await limiter.check(RateScope.IP, "10.0.0.1") for _ in range(3)]
    assert [d.reset for d in first] == [60, 60, 60]
    clock.advance(30.0)
    assert await limiter.check(RateScope.IP, "10.0.0.1") == RateDecision(False, 3, 0, 30, 30)
    clock.advance(29.999)
    assert await limiter.check(RateScope.IP, "10.0.0.1") == RateDecision(False, 3, 0, 1, 1)
    clock.advance(0.001)
    assert await limiter.check(RateScope.IP, "10.0.0.1") == RateDecision(True, 3, 2, 60, None)


async def test_a_float_clock_never_makes_reset_longer_than_the_window():
    """Near 2**16 s of uptime ``(t + 60) - t`` is 60.000000000007: still RateLimit-Reset 60,
    on both the checking path and the guard's hot path."""
    limiter = RateLimiter(POLICY, MemoryCounter(clock=at(65476.1).time))
    decisions = [await limiter.check(RateScope.IP, "10.0.0.1") for _ in range(4)]
    assert [(d.reset, d.retry_after) for d in decisions] == [(60, None)] * 3 + [(60, 60)]
    refusals = [limiter.exceeded_now(RateScope.IP, "10.0.0.2") for _ in range(4)]
    assert refusals == [None, None, None, RateDecision(False, 3, 0, 60, 60)]


async def test_redis_limits_past_the_window_edge_say_reset_zero_retry_after_one(redis_url):
    """With the wall clock read past the key's expiry, the refusal says 0 and 1."""
    url, prefix = redis_url
    late = at(time.time() + 2 * MINUTE)
    limiter = RateLimiter(POLICY, RedisCounter(url, key_prefix=prefix, clock=late.time))
    try:
        decisions = [await limiter.check(RateScope.IP, "10.0.0.1") for _ in range(4)]
    finally:
        await limiter.aclose()
    assert [d.reset for d in decisions] == [0, 0, 0, 0]
    assert decisions[-1].retry_after == 1


async def test_per_key_limits_follow_the_role_unless_overridden(limiter: RateLimiter):
    """A key's limit is its role's, unless the policy names that key; counts are per key."""
    viewer = [
        (await limiter.check(RateScope.KEY, "k1", role=Role.VIEWER)).allowed for _ in range(3)
    ]
    assert viewer == [True, True, False]
    vip = [(await limiter.check(RateScope.KEY, "vip", role=Role.VIEWER)).allowed for _ in range(6)]
    assert vip == [True] * 5 + [False]
    assert (await limiter.check(RateScope.KEY, "k2", role=Role.VIEWER)).limit == 2


async def test_ip_and_key_counters_are_separate(limiter: RateLimiter):
    """An identity used as an IP and as a key id is counted twice, once per scope."""
    for _ in range(3):
        await limiter.check(RateScope.IP, "same")
    assert (await limiter.check(RateScope.KEY, "same", role=Role.ADMIN)).allowed


async def test_cost_counts_several_hits_at_once(limiter: RateLimiter):
    """A request may cost more than one hit."""
    assert (await limiter.check(RateScope.IP, "10.0.0.3", cost=3)).remaining == 0
    assert not (await limiter.check(RateScope.IP, "10.0.0.3")).allowed


async def test_a_key_check_without_a_role_is_a_programming_error():
    """KEY checks need the caller's role to pick the limit (unless overridden per key)."""
    limiter = open_rate_limiter("memory://", POLICY)
    try:
        with pytest.raises(ValueError, match="role"):
            await limiter.check(RateScope.KEY, "k1")
        assert (await limiter.check(RateScope.KEY, "vip")).limit == 5
    finally:
        await limiter.aclose()


def test_an_unreachable_service_skips_unless_services_are_required(monkeypatch):
    """Without the service a test is skipped, or fails when WESS_REQUIRE_SERVICES=1."""
    from tests.support import free_port, require_service

    port = free_port()
    monkeypatch.delenv("WESS_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        require_service("Nothing", "127.0.0.1", port)
    monkeypatch.setenv("WESS_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="WESS_REQUIRE_SERVICES=1 requires it"):
        require_service("Nothing", "127.0.0.1", port)


async def test_an_unreachable_redis_is_a_503_under_the_closed_policy():
    """Redis errors become StorageUnavailable; under ratelimit.on_redis_failure = closed
    the check is refused with ratelimit_unavailable (a StorageUnavailable, 503)."""
    from tests.support import free_port

    limiter = open_rate_limiter(
        f"redis://127.0.0.1:{free_port()}/0", POLICY, on_failure=RedisFailurePolicy.CLOSED
    )
    try:
        with pytest.raises(RateLimitUnavailable, match="rate-limit counters") as refused:
            await limiter.check(RateScope.IP, "10.0.0.1")
        assert isinstance(refused.value, StorageUnavailable)
    finally:
        await limiter.aclose()


async def test_memory_counter_windows_reset_and_expired_ones_are_swept():
    """A window resets when it ends; ended windows are dropped, so memory stays bounded."""
    now = [100.0]
    counter = MemoryCounter(clock=lambda: now[0])
    assert await counter.hit("a", window=60, cost=1) == (1, 60.0)
    assert (await counter.hit("a", window=60, cost=2))[0] == 3
    now[0] = 161.0
    assert await counter.hit("a", window=60, cost=1) == (1, 60.0)
    for n in range(MemoryCounter.SWEEP_EVERY):
        await counter.hit(f"client-{n}", window=1, cost=1)
    now[0] = 500.0
    for _ in range(MemoryCounter.SWEEP_EVERY):
        await counter.hit("b", window=60, cost=1)
    assert len(counter) == 1  # only the live window of "b" remains
