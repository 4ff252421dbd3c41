"""The two call paths: the C API fast path and wasmtime-py's documented API agree."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures import wasm
from wess.errors import WessError
from wess.runtime import Limits, Runtime, RuntimeConfig

PAGE = 1 << 16
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1

CALLS: list[tuple[str, str, list[object], Limits]] = [
    ("sum", "sum", [1, 2], Limits()),
    ("sum", "sum", [-(1 << 31), -1], Limits()),
    ("sum", "sum", [1, 2], Limits(fuel=100)),
    ("counter", "bump", [], Limits()),
    ("random", "roll", [], Limits()),
    ("numbers", "swap", [5, I64_MIN], Limits()),
    ("numbers", "id_i64", [I64_MAX], Limits(fuel=10)),
    ("numbers", "id_f32", [3.4028234663852886e38], Limits()),
    ("numbers", "id_f32", ["-Infinity"], Limits()),
    ("numbers", "id_f64", ["NaN"], Limits()),
    ("numbers", "div_f64", [1, 3], Limits()),
    ("numbers", "nothing", [], Limits()),
    ("burn", "burn", [1000], Limits(fuel=100_000)),
    ("kitchen_sink", "simd", [3], Limits()),
    ("kitchen_sink", "gc", [3], Limits()),
    ("kitchen_sink", "catch", [-7], Limits()),
    ("kitchen_sink", "grow", [3], Limits(max_memory=4 * PAGE)),
    ("kitchen_sink", "grow", [4], Limits(max_memory=4 * PAGE)),
    ("kitchen_sink", "convert", [1e300], Limits()),
    ("traps", "div", [1, 0], Limits()),
    ("traps", "recurse", [0], Limits()),
    ("traps", "spin", [], Limits(fuel=999)),
    ("traps", "spin", [], Limits(timeout_ms=20)),
    ("traps", "grow", [9], Limits(max_memory=2 * PAGE)),
    ("traps", "grow", [1], Limits(max_memory=0)),
    ("indirect", "call", [1], Limits()),
    ("indirect", "call", [9], Limits()),
    ("indirect", "bad_signature", [], Limits()),
    ("indirect", "truncate", ["Infinity"], Limits()),
    ("sum", "sum", [1, 2], Limits(max_instances=1, max_table_elements=0, max_memory=0)),
]


def outcomes(fast: bool) -> Iterator[object]:
    with Runtime(config=RuntimeConfig(fast_path=fast), random=lambda: 7) as rt:
        for module, name, args, limits in CALLS:
            try:
                result = rt.load(wasm(module)).function(name).invoke(args, limits=limits)
            except WessError as exc:
                yield (type(exc).__name__, exc.detail, dict(exc.context))
            else:
                yield result._replace(duration_us=0, instantiate_us=0)


def test_both_paths_give_identical_results_and_errors() -> None:
    """Every call, successful or not, gives the same results, fuel, output and errors
    (class, detail and context) on both paths; only durations (of the call and of its
    instantiation) differ."""
    for fast, documented in zip(outcomes(True), outcomes(False), strict=True):
        assert fast == documented


@pytest.mark.parametrize(
    ("fast_path", "module", "function", "expected"),
    [
        (True, "sum", "sum", "fast"),
        (True, "random", "roll", "fast"),
        (True, "hello_wasi", "hello", "documented"),
        (False, "sum", "sum", "documented"),
    ],
)
def test_which_path_a_function_takes(
    fast_path: bool, module: str, function: str, expected: str
) -> None:
    """The fast path serves modules without WASI imports; WASI modules, and every module
    when the fast path is off, take the documented path."""
    with Runtime(config=RuntimeConfig(fast_path=fast_path)) as rt:
        assert rt.load(wasm(module)).function(function).call_path == expected


def test_wasmtime_py_declarations_are_left_alone() -> None:
    """The fast path declares its C functions on its own library handles: wasmtime-py's
    functions keep their argument types, and its documented API keeps working."""
    from wasmtime import _ffi as ffi

    declared = {
        name: getattr(ffi.dll, name).argtypes
        for name in (
            "wasmtime_func_call",
            "wasmtime_store_new",
            "wasmtime_instance_pre_instantiate",
        )
    }
    with Runtime(config=RuntimeConfig(fast_path=True)) as rt:
        assert rt.load(wasm("sum")).function("sum")(2, 2) == [4]
    for name, argtypes in declared.items():
        assert argtypes
        assert getattr(ffi.dll, name).argtypes == argtypes
    with Runtime(config=RuntimeConfig(fast_path=False)) as rt:
        assert rt.load(wasm("sum")).function("sum")(2, 2) == [4]
