"""P1: one isolated call of sum(i32, i32) through wess.runtime, against the comparators.

Every contender runs in this one process, in interleaved rounds, and the median of the
rounds is reported with the ratios P1 asks for (<= 0.25 x naive_fresh and <= 0.5 x
extism_reused; see ../shared/bench/README.md). Wess calls go through the public
embedding API, ``Function.__call__``: a fresh Store and instance per call with the
Runtime's limits (memory, tables, instances, fuel budget, epoch deadline) applied.

    .venv/bin/python bench/p1_invoke.py [--calls 20000] [--rounds 9] [--naive PATH]

extism_reused needs the ``extism`` package importable; without it that line is
skipped (``pip install --target /tmp/bench-extism extism`` and
``PYTHONPATH=/tmp/bench-extism`` keep it out of the project's environment).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import wasmtime

from wess.runtime import Runtime, RuntimeConfig

DEFAULT_NAIVE = Path(__file__).resolve().parents[2] / "shared" / "bench" / "naive_invoke.py"


def load_comparators(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("naive_invoke", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the comparators from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        "--naive", type=Path, default=DEFAULT_NAIVE, help="path of the shared naive_invoke.py"
    )
    options = parser.parse_args()

    comparators = load_comparators(options.naive)
    wasm = bytes(wasmtime.wat2wasm(comparators.SUM_WAT))
    fast, fast_runtime = wess_contender(wasm, fast_path=True)
    documented, documented_runtime = wess_contender(wasm, fast_path=False)
    contenders: dict[str, Callable[[int], float]] = {
        "wess (fast path)": fast,
        "wess (documented path)": documented,
        "naive_fresh": comparators.naive_fresh,
    }
    try:
        import extism  # noqa: F401
    except ImportError:
        print("extism_reused: skipped, extism is not installed")
    else:
        contenders["extism_reused"] = comparators.extism_reused

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
    print(f"  wess / naive_fresh       {wess / medians['naive_fresh']:8.3f}  (goal <= 0.25)")
    if "extism_reused" in medians:
        print(f"  wess / extism_reused     {wess / medians['extism_reused']:8.3f}  (goal <= 0.50)")


if __name__ == "__main__":
    main()
