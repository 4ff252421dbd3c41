"""Concurrency: calls from many threads at once, and guest code running in parallel."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.fixtures import wasm
from wess.runtime import Limits, Runtime
from wess.runtime.limits import MAX_TIMEOUT_MS

BURN = 600_000_000  # about half a second of guest time here; only overlap is asserted
UNHURRIED = Limits(timeout_ms=MAX_TIMEOUT_MS)
"""The default 5 s limit is not what these tests are about: on a machine busy with other
work, half a second of guest time can take longer than that."""


def test_long_calls_on_two_threads_overlap(runtime: Runtime) -> None:
    """wasmtime releases the GIL while guest code runs: two CPU-bound calls on two
    threads are both under way before either ends (no timing is asserted)."""
    burn = runtime.load(wasm("burn")).function("burn")
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def call() -> None:
        barrier.wait()
        start = time.monotonic()
        assert burn.invoke_values([BURN], limits=UNHURRIED).results == [BURN]
        end = time.monotonic()
        with lock:
            spans.append((start, end))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(spans) == 2
    (start_a, end_a), (start_b, end_b) = spans
    assert max(start_a, start_b) < min(end_a, end_b)


def test_many_threads_get_their_own_results(runtime: Runtime) -> None:
    """Concurrent calls from a pool each get their own arguments' results."""
    sum_ = runtime.load(wasm("sum")).function("sum")
    swap = runtime.load(wasm("numbers")).function("swap")
    with ThreadPoolExecutor(8) as pool:
        sums = list(pool.map(lambda i: sum_(i, i)[0], range(500)))
        swaps = list(pool.map(lambda i: swap(i, -i), range(500)))
    assert sums == [2 * i for i in range(500)]
    assert swaps == [[-i, i] for i in range(500)]
