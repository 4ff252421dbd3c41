"""P1: one isolated call of sum(i32, i32) through wess.runtime, against the comparators.

Every contender runs in this one process, in interleaved rounds, and the median of the
rounds is reported with the ratios P1 asks for (<= 0.25 x naive_fresh and <= 0.5 x
extism_reused; the comparators are bench/naive_invoke.py). Wess calls go through the public
embedding API, ``Function.__call__``: a fresh Store and instance per call with the
Runtime's limits (memory, tables, instances, fuel budget, epoch deadline) applied.

    .venv/bin/python bench/p1_invoke.py [--calls 20000] [--rounds 9] [--quick]
                                        [--extism-site DIR]

extism_reused needs the ``extism`` package. It never goes into the project's
environment: ``make bench`` installs it in ``.bench-venv`` and passes that
environment's site-packages as ``--extism-site``, appended to the END of ``sys.path``
so the project's own packages keep precedence. Without it that line is skipped.
The last line printed is the figure's result as JSON (see figures.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import naive_invoke
import wasmtime
from figures import Row, emit, ratio

from wess.runtime import Runtime, RuntimeConfig

GOAL_NAIVE = 0.25
GOAL_EXTISM = 0.5


def wess_contender(wasm: bytes, *, fast_path: bool) -> tuple[Callable[[int], float], Runtime]:
    runtime = Runtime(config=RuntimeConfig(fast_path=fast_path))
    sum_ = runtime.load(wasm).function("sum")
    assert sum_(1, 2) == [3]

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            sum_(1, 2)
        return (time.perf_counter() - start) / n * 1e6

    return run, runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--extism-site", type=Path, help="site-packages holding extism (the bench venv's)"
    )
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.calls, options.rounds = 2000, 3
    if options.extism_site is not None:
        sys.path.append(str(options.extism_site))

    wasm = bytes(wasmtime.wat2wasm(naive_invoke.SUM_WAT))
    fast, fast_runtime = wess_contender(wasm, fast_path=True)
    documented, documented_runtime = wess_contender(wasm, fast_path=False)
    contenders: dict[str, Callable[[int], float]] = {
        "wess (fast path)": fast,
        "wess (documented path)": documented,
        "naive_fresh": naive_invoke.naive_fresh,
    }
    try:
        import extism
    except ImportError:
        print("extism_reused: skipped, extism is not installed")
    else:
        contenders["extism_reused"] = naive_invoke.extism_reused

    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for run in contenders.values():
        run(max(options.calls // 10, 100))  # warm up
    for _ in range(options.rounds):
        for name, run in contenders.items():
            samples[name].append(run(options.calls))
    fast_runtime.close()
    documented_runtime.close()

    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(
        f"P1: isolated sum(i32, i32), {options.calls} calls x {options.rounds} rounds, "
        f"median us/call"
    )
    for name, value in medians.items():
        print(f"  {name:24s} {value:8.2f}")
    wess = medians["wess (fast path)"]
    extism = medians.get("extism_reused")
    versus_naive = ratio(wess, medians["naive_fresh"])
    versus_extism = ratio(wess, extism)
    print(f"  wess / naive_fresh       {versus_naive:8.3f}  (goal <= {GOAL_NAIVE})")
    if versus_extism is not None:
        print(f"  wess / extism_reused     {versus_extism:8.3f}  (goal <= {GOAL_EXTISM})")

    measure = "median time of one isolated call of sum(i32, i32), in-process"
    info = [
        f"{options.calls} calls x {options.rounds} interleaved rounds, median of the rounds",
        *(
            f"{name}: {value:.2f} us/call (rounds: "
            + ", ".join(f"{v:.2f}" for v in samples[name])
            + ")"
            for name, value in medians.items()
        ),
        "Wess is timed through the public embedding API (fast path, the default): "
        "Runtime().load(wasm).function('sum')(1, 2), a fresh instance per call, limits on",
    ]
    if extism is None:
        info.append("extism_reused NOT measured: extism is not importable")
    emit(
        "P1",
        "Isolated in-process call",
        [
            Row(
                measure=measure,
                unit="us",
                wess=wess,
                comparator="naive_fresh",
                comparator_value=medians["naive_fresh"],
                ratio=versus_naive,
                goal=f"<= {GOAL_NAIVE:g} x naive_fresh",
                met=versus_naive is not None and versus_naive <= GOAL_NAIVE,
            ),
            Row(
                measure=measure,
                unit="us",
                wess=wess,
                comparator="extism_reused",
                comparator_value=extism,
                ratio=versus_extism,
                goal=f"<= {GOAL_EXTISM:g} x extism_reused",
                met=None if versus_extism is None else versus_extism <= GOAL_EXTISM,
            ),
        ],
        info=info,
        data={"medians_us": medians, "rounds_us": samples},
    )


if __name__ == "__main__":
    main()
