"""The clocks a guest reads through WASI are coarsened to a documented resolution."""

from __future__ import annotations

import time

import pytest

from tests.fixtures import wasm
from wess.runtime import Runtime, RuntimeConfig
from wess.runtime.clocks import ERRNO_FAULT, ERRNO_INVAL, MONOTONIC, REALTIME, GuestClock

MS = 1_000_000
PROCESS_CPUTIME, THREAD_CPUTIME = 2, 3


def test_readings_are_rounded_down_to_the_resolution():
    """Realtime is the host's time rounded down; monotonic counts from the clock's making."""
    monotonic = iter([5_000_000_123, 5_012_345_678])
    clock = GuestClock(
        MS, wall=lambda: 1_700_000_000_999_999_999, monotonic=lambda: next(monotonic)
    )
    assert clock.read(REALTIME) == 1_700_000_000_999_000_000
    assert clock.read(MONOTONIC) == 12 * MS
    assert clock.resolution(REALTIME) == clock.resolution(MONOTONIC) == MS


def test_cpu_time_clocks_are_not_offered():
    """The process and thread CPU-time clocks, and unknown ids, read as nothing."""
    clock = GuestClock(MS)
    for clock_id in (PROCESS_CPUTIME, THREAD_CPUTIME, 4, -1):
        assert clock.read(clock_id) is None
        assert clock.resolution(clock_id) is None


def test_a_resolution_below_one_nanosecond_is_refused():
    """Zero would divide by zero on every reading."""
    with pytest.raises(ValueError, match="at least 1 ns"):
        GuestClock(0)


@pytest.mark.parametrize("clock_id", [REALTIME, MONOTONIC])
def test_a_guest_reads_multiples_of_the_resolution(runtime: Runtime, clock_id: int) -> None:
    """Two readings by a guest are whole milliseconds (the default), in order."""
    first, second = runtime.load(wasm("clock")).function("twice")(clock_id)
    assert first % MS == 0
    assert second % MS == 0
    assert 0 <= first <= second


def test_the_realtime_clock_is_unix_time(runtime: Runtime) -> None:
    """Realtime is the host's Unix time, only coarser: never past it, at most a tick behind."""
    twice = runtime.load(wasm("clock")).function("twice")
    before = time.time_ns()
    reading, _ = twice(REALTIME)
    after = time.time_ns()
    assert before - before % MS <= reading <= after


def test_the_configured_resolution_applies_and_is_reported():
    """RuntimeConfig.clock_resolution_ns sets the rounding, and clock_res_get tells it."""
    resolution = 7 * MS
    with Runtime(config=RuntimeConfig(clock_resolution_ns=resolution)) as runtime:
        program = runtime.load(wasm("clock"))
        for clock_id in (REALTIME, MONOTONIC):
            assert program.function("resolution")(clock_id) == [resolution]
            assert all(t % resolution == 0 for t in program.function("twice")(clock_id))


def test_cpu_time_clocks_answer_einval(runtime: Runtime) -> None:
    """A guest asking for its CPU time gets EINVAL, not a fine-grained timer."""
    program = runtime.load(wasm("clock"))
    assert program.function("twice")(PROCESS_CPUTIME) == [-ERRNO_INVAL, -ERRNO_INVAL]
    assert program.function("resolution")(THREAD_CPUTIME) == [-ERRNO_INVAL]


@pytest.mark.parametrize("address", [65536 - 7, 65536, 0x7FFF_FFFF, -1])
def test_a_pointer_outside_memory_is_efault(runtime: Runtime, address: int) -> None:
    """A time written past the guest's memory is refused with EFAULT, never a host error."""
    into = runtime.load(wasm("clock")).function("into")
    assert into(address) == [ERRNO_FAULT]
    assert into(65536 - 8) == [0]


def test_clock_modules_take_the_documented_path(runtime: Runtime) -> None:
    """WASI modules never take the fast path, so the coarse clock is the only clock."""
    assert runtime.load(wasm("clock")).function("twice").call_path == "documented"
