"""P5: CPU-bound parallelism over HTTP: two concurrent ~1 s invocations vs one.

A module whose ``spin(n: i64)`` runs a tight arithmetic loop ``n`` times is stored in
a real Wess; ``n`` is calibrated here, at run time, so one call takes about one
second on this machine. Then, in alternating rounds, one call is timed alone and two
are timed together (from both sent to both answered); ratio = time(two) / time(one),
medians of the rounds; goal <= 1.15 (on 2 cores, two calls should run side by side).

The server gets ``WESS_RUNNER_TIMEOUT`` well above a second and each request
``limits.timeout_ms`` to match, so the figure measures parallelism, not the limit.

    .venv/bin/python bench/p5_parallelism.py [--rounds 3] [--target 1.0] [--quick]
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import wasmtime
from figures import Row, emit, median, ratio, say
from servers import Server, production_features, wess_server

from wess.workers.pool import THREADS_PER_CORE

GOAL = 1.15
RUNNER_TIMEOUT_MS = 120_000
CALL_TIMEOUT_MS = 60_000
FIRST_GUESS = 200_000_000
SPIN_WAT = """
(module
  (func (export "spin") (param $n i64) (result i64)
    (local $acc i64)
    (block $done
      (loop $again
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $acc
          (i64.add (i64.mul (local.get $acc) (i64.const 6364136223846793005))
                   (i64.const 1442695040888963407)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $again)))
    (local.get $acc)))
"""


def call(server: Server, module_id: str, n: int) -> float:
    """Seconds for one ``spin(n)`` over HTTP, on a fresh connection."""
    client = server.client()
    body = {"function": "spin", "args": [n], "limits": {"timeout_ms": CALL_TIMEOUT_MS}}
    start = time.perf_counter()
    answer = client.post_json(f"/v1/modules/{module_id}/run", body, timeout=CALL_TIMEOUT_MS / 1e3)
    elapsed = time.perf_counter() - start
    client.close()
    if answer.status != 200:
        raise RuntimeError(f"spin answered {answer.status}: {answer.body[:300]!r}")
    return elapsed


def together(server: Server, module_id: str, n: int, count: int = 2) -> tuple[float, list[float]]:
    """Wall seconds for ``count`` concurrent calls, and each call's own seconds."""
    barrier = threading.Barrier(count + 1)
    each: list[float] = [0.0] * count
    failures: list[BaseException] = []

    def one(index: int) -> None:
        barrier.wait()
        try:
            each[index] = call(server, module_id, n)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise failures[0]
    return elapsed, each


def calibrate(server: Server, module_id: str, target_s: float) -> tuple[int, float]:
    """The iteration count for one call of about ``target_s`` seconds, and its time."""
    n = FIRST_GUESS
    call(server, module_id, 1000)  # compile and cache first
    for _ in range(3):
        elapsed = call(server, module_id, n)
        say(f"  spin({n}) took {elapsed:.3f} s")
        n = max(1, int(n * target_s / elapsed))
        if abs(elapsed - target_s) / target_s < 0.05:
            break
    return n, call(server, module_id, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--target", type=float, default=1.0, help="seconds of one call")
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.target = 1, 0.3

    wasm = bytes(wasmtime.wat2wasm(SPIN_WAT))
    with wess_server(env={"WESS_RUNNER_TIMEOUT": str(RUNNER_TIMEOUT_MS)}) as server:
        module_id = server.upload(wasm, name="spin", function="spin")
        features = production_features(server, module_id)
        say(f"P5: calibrating spin(n) to ~{options.target:g} s")
        n, check = calibrate(server, module_id, options.target)
        say(f"P5: n = {n} ({check:.3f} s); {options.rounds} rounds of one call, then two")
        singles: list[float] = []
        pairs: list[float] = []
        each: list[list[float]] = []
        for number in range(options.rounds):
            singles.append(call(server, module_id, n))
            wall, times = together(server, module_id, n)
            pairs.append(wall)
            each.append(times)
            say(
                f"  round {number + 1}/{options.rounds}: one {singles[-1]:.3f} s, "
                f"two together {wall:.3f} s ({', '.join(f'{t:.3f}' for t in times)})"
            )

    one = median(singles)
    two = median(pairs)
    share = ratio(two, one)
    info = [
        f"spin(n) with n = {n:,} iterations, calibrated to {options.target:g} s here",
        "one call per round (s): " + ", ".join(f"{t:.3f}" for t in singles),
        "two concurrent calls per round, wall (s): " + ", ".join(f"{t:.3f}" for t in pairs),
        f"machine cores: {os.cpu_count()}; server runner.workers at its default "
        f"({THREADS_PER_CORE} per core)",
        f"server started with WESS_RUNNER_TIMEOUT={RUNNER_TIMEOUT_MS}; "
        f"each call sends limits.timeout_ms={CALL_TIMEOUT_MS}",
        *(f"{name}: {'on' if f.on else 'OFF'}" for name, f in features.items()),
    ]
    emit(
        "P5",
        "CPU-bound parallelism",
        [
            Row(
                measure="wall time of two concurrent ~1 s calls (Wess) vs one call alone",
                unit="s",
                wess=two,
                comparator="one call alone",
                comparator_value=one,
                ratio=share,
                goal=f"<= {GOAL:g} x one call",
                met=share is not None and share <= GOAL,
            )
        ],
        info=info,
        data={"n": n, "one_s": singles, "two_s": pairs, "two_each_s": each},
    )


if __name__ == "__main__":
    main()
