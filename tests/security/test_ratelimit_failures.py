"""Rate limits when Redis fails: the breaker in front of it, and the two policies (count
in memory, or refuse), against a counter that fails on demand and against a real Redis
that is not there."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support import free_port
from wess.circuit import CircuitBreaker, CircuitState
from wess.errors import RateLimitUnavailable, StorageUnavailable
from wess.security.ratelimit import (
    GuardedCounter,
    RateLimiter,
    RatePolicy,
    RateScope,
    RedisFailurePolicy,
    open_rate_limiter,
)
from wess.testing import FakeClock

POLICY = RatePolicy(per_ip="3/minute")


class FlakyCounter:
    """A shared counter that counts like Redis, or fails like an unreachable one."""

    def __init__(self) -> None:
        self.down = False
        self.hits = 0
        self.counts: dict[str, int] = {}

    async def hit(self, key: str, *, window: int, cost: int) -> tuple[int, float]:
        self.hits += 1
        if self.down:
            raise StorageUnavailable("rate limit counters unavailable: connection refused")
        self.counts[key] = self.counts.get(key, 0) + cost
        return self.counts[key], float(window)

    async def aclose(self) -> None:
        return None


def guarded(
    policy: RedisFailurePolicy, clock: FakeClock, degraded: list[str]
) -> tuple[RateLimiter, FlakyCounter, GuardedCounter]:
    shared = FlakyCounter()
    breaker = CircuitBreaker(threshold=2, cooldown=5, clock=clock.monotonic)
    counter = GuardedCounter(shared, breaker=breaker, policy=policy, degraded=degraded.append)
    return RateLimiter(POLICY, counter), shared, counter


async def test_fail_open_counts_in_memory_and_still_limits():
    """Redis down, policy open: each check is counted in this process instead, so the
    limit still holds (the fourth request of three a minute is refused); after two
    failures the breaker stops asking Redis; each degraded check is reported."""
    clock, degraded = FakeClock(), []
    limiter, shared, counter = guarded(RedisFailurePolicy.OPEN, clock, degraded)
    shared.down = True
    decisions = [await limiter.check(RateScope.IP, "10.0.0.1") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert shared.hits == 2  # the breaker opened after two failures
    assert counter.breaker.state is CircuitState.OPEN
    assert degraded == ["local"] * 4
    assert counter.serving


async def test_fail_closed_refuses_with_retry_after_and_is_not_serving():
    """Redis down, policy closed: refused with ratelimit_unavailable; once the breaker is
    open, refused without asking Redis, Retry-After the cool-down left."""
    clock, degraded = FakeClock(), []
    limiter, shared, counter = guarded(RedisFailurePolicy.CLOSED, clock, degraded)
    shared.down = True
    for _ in range(2):
        with pytest.raises(RateLimitUnavailable):
            await limiter.check(RateScope.IP, "10.0.0.1")
    clock.advance(1)
    with pytest.raises(RateLimitUnavailable) as refused:
        await limiter.check(RateScope.IP, "10.0.0.1")
    assert refused.value.retry_after == 4
    assert shared.hits == 2
    assert degraded == ["refused"] * 3
    assert not counter.serving


async def test_a_probe_after_the_cooldown_goes_back_to_redis():
    """Redis back: after the cool-down the next check probes it, the breaker closes, and
    counting is shared again."""
    clock = FakeClock()
    limiter, shared, counter = guarded(RedisFailurePolicy.CLOSED, clock, [])
    shared.down = True
    for _ in range(2):
        with pytest.raises(RateLimitUnavailable):
            await limiter.check(RateScope.IP, "10.0.0.1")
    shared.down = False
    clock.advance(5)
    assert (await limiter.check(RateScope.IP, "10.0.0.1")).allowed
    assert counter.breaker.state is CircuitState.CLOSED
    assert counter.serving
    assert shared.hits == 3


async def test_a_real_unreachable_redis_fails_open_by_default():
    """open_rate_limiter's default policy is open: with no Redis listening, checks are
    answered (counted in memory), never a 503."""
    limiter = open_rate_limiter(f"redis://127.0.0.1:{free_port()}/0", POLICY)
    try:
        decision = await limiter.check(RateScope.IP, "10.0.0.1")
        assert decision.allowed
    finally:
        await limiter.aclose()


@pytest.fixture
def own_redis(tmp_path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own (it is stopped and resumed), on a free port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(500):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.01)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


async def test_a_frozen_redis_holds_no_request_and_is_probed_back(own_redis):
    """Redis frozen (SIGSTOP: connections open, no answers): each check gives up after
    the Redis timeout and is counted locally; after two the breaker stops asking. Redis
    resumes: after the cool-down one check probes it and counting is shared again."""
    url, process = own_redis
    clock, degraded = FakeClock(), []
    breaker = CircuitBreaker(threshold=2, cooldown=5, clock=clock.monotonic)
    limiter = open_rate_limiter(url, POLICY, breaker=breaker, timeout=0.2, degraded=degraded.append)
    try:
        assert (await limiter.check(RateScope.IP, "10.0.0.1")).allowed
        process.send_signal(signal.SIGSTOP)
        for _ in range(3):
            assert (await limiter.check(RateScope.IP, "10.0.0.2")).allowed
        assert breaker.state is CircuitState.OPEN
        assert degraded == ["local"] * 3
        process.send_signal(signal.SIGCONT)
        clock.advance(5)
        assert (await limiter.check(RateScope.IP, "10.0.0.1")).remaining == 1
        assert breaker.state is CircuitState.CLOSED
    finally:
        await limiter.aclose()
