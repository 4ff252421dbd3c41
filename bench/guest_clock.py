"""The cost of a guest's clock reading (issue 8.12): Wess's coarse ``clock_time_get``
against wasmtime's own, per reading, in process.

A guest reads the monotonic clock ``n`` times in a loop; the cost of one reading is
the difference between ``n = READS`` and ``n = 0``, divided by ``READS`` (best of
``--rounds``). Wess's runs through a ``Runtime`` (the documented call path every WASI
module takes); wasmtime's through a plain wasmtime-py Linker with WASI defined and
nothing shadowed. Not part of ``make bench``.

    .venv/bin/python bench/guest_clock.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import wasmtime

from wess.runtime import Limits, Runtime

READS = 10_000
CLOCK_WAT = """
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $time_get (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "read") (param $n i32) (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $n)))
        (drop (call $time_get (i32.const 1) (i64.const 1) (i32.const 0)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $more)))
    (i32.const 0)))
"""


def per_read_ns(read: Callable[[int], object], rounds: int) -> float:
    """Nanoseconds one reading adds to a call, best of ``rounds``."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        read(0)
        empty = time.perf_counter_ns() - start
        start = time.perf_counter_ns()
        read(READS)
        full = time.perf_counter_ns() - start
        best = min(best, (full - empty) / READS)
    return best


def wasmtime_reader() -> Callable[[int], object]:
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module(engine, CLOCK_WAT)

    def read(n: int) -> object:
        store = wasmtime.Store(engine)
        store.set_wasi(wasmtime.WasiConfig())
        function = linker.instantiate(store, module).exports(store)["read"]
        assert isinstance(function, wasmtime.Func)
        return function(store, n)

    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    with Runtime(limits=Limits(timeout_ms=60_000)) as runtime:
        function = runtime.load(wasmtime.wat2wasm(CLOCK_WAT)).function("read")
        wess = per_read_ns(function, options.rounds)
    native = per_read_ns(wasmtime_reader(), options.rounds)
    print(f"Wess's coarse clock_time_get: {wess / 1000:.1f} us per reading")
    print(f"wasmtime's own clock_time_get: {native / 1000:.2f} us per reading")


if __name__ == "__main__":
    main()
