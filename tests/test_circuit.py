"""The circuit breaker's rule: closed, open after N failures in a row, half open after the
cool-down with one probe, closed again by its success; all on a fake clock."""

from __future__ import annotations

import pytest

from wess.circuit import CircuitBreaker, CircuitState
from wess.testing import FakeClock


def breaker(clock: FakeClock, *, threshold: int = 3, cooldown: float = 10.0) -> CircuitBreaker:
    return CircuitBreaker(threshold=threshold, cooldown=cooldown, clock=clock.monotonic)


def test_it_opens_after_threshold_failures_in_a_row_only():
    """Two failures, a success, two failures: still closed (in a row); the third in a row
    opens it, and then nothing is allowed."""
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(2):
        circuit.failure()
    circuit.success()
    for _ in range(2):
        circuit.failure()
    assert circuit.state is CircuitState.CLOSED
    assert circuit.allow()
    circuit.failure()
    assert circuit.state is CircuitState.OPEN
    assert not circuit.allow()
    assert circuit.failures == 3


def test_after_the_cooldown_one_probe_goes_and_its_success_closes():
    """Open for the cool-down (Retry-After counts down, never below 1); then half open:
    one call is allowed, a second is not while the probe runs; the probe's success closes
    it and every call goes again."""
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.failure()
    assert circuit.retry_after() == 10
    clock.advance(9.5)
    assert circuit.retry_after() == 1
    assert not circuit.allow()
    clock.advance(0.5)
    assert circuit.state is CircuitState.HALF_OPEN
    assert circuit.allow()
    assert not circuit.allow()  # the probe is in flight
    circuit.success()
    assert circuit.state is CircuitState.CLOSED
    assert circuit.allow()
    assert circuit.allow()
    assert circuit.failures == 0


def test_a_failed_probe_opens_it_for_another_cooldown():
    """The probe's failure re-opens at once (one failure, not the threshold), counted
    from now."""
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.failure()
    clock.advance(10)
    assert circuit.allow()
    circuit.failure()
    assert circuit.state is CircuitState.OPEN
    assert circuit.retry_after() == 10
    clock.advance(10)
    assert circuit.allow()


def test_a_probe_without_a_verdict_lets_the_next_call_probe():
    """A probe that was cancelled (release) frees the probe's place; the breaker stays
    half open."""
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.failure()
    clock.advance(10)
    assert circuit.allow()
    circuit.release()
    assert circuit.state is CircuitState.HALF_OPEN
    assert circuit.allow()


def test_late_answers_of_calls_let_through_before_it_opened_change_nothing():
    """A call allowed while closed that succeeds after the breaker opened does not close
    it; one that fails then does not extend the cool-down."""
    clock = FakeClock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.failure()
    clock.advance(4)
    circuit.success()
    circuit.failure()
    assert circuit.state is CircuitState.OPEN
    assert circuit.retry_after() == 6


def test_every_change_of_state_is_heard_and_the_snapshot_says_it():
    """on_change hears open, half_open, closed in order; the snapshot carries
    retry_after only while open."""
    clock = FakeClock()
    heard: list[CircuitState] = []
    circuit = CircuitBreaker(threshold=1, cooldown=2, clock=clock.monotonic, on_change=heard.append)
    circuit.failure()
    assert circuit.snapshot().to_dict() == {"state": "open", "failures": 1, "retry_after": 2}
    clock.advance(2)
    assert circuit.snapshot().to_dict() == {"state": "half_open", "failures": 1}
    assert circuit.allow()
    circuit.success()
    assert heard == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


@pytest.mark.parametrize(("threshold", "cooldown"), [(0, 1.0), (1, 0.0)])
def test_nonsense_settings_are_refused(threshold, cooldown):
    with pytest.raises(ValueError, match="threshold must be"):
        CircuitBreaker(threshold=threshold, cooldown=cooldown)
