"""In-process comparators for one isolated call of `sum(i32, i32)`.

Mirrors the reference comparator ``naive_invoke.py`` of the project's shared bench
(its README defines what P1 measures): the same two code paths, kept here so that
``make bench`` runs in a clone placed anywhere. Change neither path without changing
the reference: the figure is only meaningful against the same comparator.

naive_fresh():   what the wasmtime-py documentation leads to: a fresh Store,
                 an instance from InstancePre, a call through Func.__call__.
extism_reused(): the Extism Python host SDK calling one long-lived plugin
                 (no isolation between calls: the instance is reused).

Wess's embedding API (wess.runtime) is timed against both, in one process, in
one run (bench/p1_invoke.py).
"""

import time

import wasmtime

SUM_WAT = (
    '(module (func (export "sum") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'
)
RUN_WAT = '(module (memory (export "memory") 1) (func (export "run") (result i32) i32.const 0))'


def naive_fresh(n: int) -> float:
    """Median-free simple mean: microseconds per isolated call."""
    engine = wasmtime.Engine()
    pre = wasmtime.Linker(engine).instantiate_pre(wasmtime.Module(engine, SUM_WAT))
    start = time.perf_counter()
    for _ in range(n):
        store = wasmtime.Store(engine)
        pre.instantiate(store).exports(store)["sum"](store, 1, 2)
    return (time.perf_counter() - start) / n * 1e6


def extism_reused(n: int) -> float:
    """Microseconds per call of one reused Extism plugin (pip install extism)."""
    import extism

    plugin = extism.Plugin(bytes(wasmtime.wat2wasm(RUN_WAT)), wasi=False)
    start = time.perf_counter()
    for _ in range(n):
        plugin.call("run", b"")
    return (time.perf_counter() - start) / n * 1e6


if __name__ == "__main__":
    for name, fn in (("naive_fresh", naive_fresh), ("extism_reused", extism_reused)):
        fn(2000)
        print(f"{name}: {min(fn(20000) for _ in range(5)):.2f} us/call")
