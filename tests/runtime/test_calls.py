"""Calling functions: fresh instances, values in and out, what an Invocation reports."""

from __future__ import annotations

import math

import pytest

from tests.fixtures import wasm
from wess.errors import FunctionNotFound, InvalidArguments
from wess.runtime import Invocation, Limits, Runtime, RuntimeConfig

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1


def test_sum(runtime: Runtime) -> None:
    """The original Wess example: sum(1, 2) returns [3]."""
    assert runtime.load(wasm("sum")).function("sum")(1, 2) == [3]


def test_every_call_gets_a_fresh_instance(runtime: Runtime) -> None:
    """A global bumped by one call is back to its initial value in the next: 1 every time."""
    bump = runtime.load(wasm("counter")).function("bump")
    assert [bump()[0] for _ in range(5)] == [1, 1, 1, 1, 1]


def test_multi_value_results_in_order(runtime: Runtime) -> None:
    """A function with several results returns them all, in order."""
    assert runtime.load(wasm("numbers")).function("swap")(7, -9) == [-9, 7]


def test_no_results_is_an_empty_list(runtime: Runtime) -> None:
    """A function without results returns []."""
    assert runtime.load(wasm("numbers")).function("nothing")() == []


@pytest.mark.parametrize(
    "value", [I64_MIN, I64_MIN + 1, -1, 0, 1, 1 << 53, (1 << 53) + 1, I64_MAX - 1, I64_MAX]
)
def test_i64_extremes_are_exact(runtime: Runtime, value: int) -> None:
    """i64 values cross the boundary exactly, including beyond 2**53 and at both ends."""
    assert runtime.load(wasm("numbers")).function("id_i64")(value) == [value]


def test_i64_arithmetic_wraps_inside_the_guest(runtime: Runtime) -> None:
    """The guest's own i64 overflow wraps as wasm says; only arguments are range-checked."""
    assert runtime.load(wasm("numbers")).function("add_i64")(I64_MAX, 1) == [I64_MIN]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("id_f64", "NaN", "NaN"),
        ("id_f64", "Infinity", "Infinity"),
        ("id_f64", "-Infinity", "-Infinity"),
        ("id_f32", "NaN", "NaN"),
        ("id_f32", "-Infinity", "-Infinity"),
        ("id_f64", 1.5, 1.5),
        ("id_f64", 3, 3.0),
        ("id_f32", 1.1, 1.100000023841858),
    ],
)
def test_special_floats_cross_as_strings(
    runtime: Runtime, name: str, value: object, expected: object
) -> None:
    """NaN and the infinities go in and come out as "NaN", "Infinity", "-Infinity";
    f32 results are the double value of the f32."""
    assert runtime.load(wasm("numbers")).function(name)(value) == [expected]


def test_division_producing_infinity_and_nan(runtime: Runtime) -> None:
    """Non-finite results computed by the guest are JSON-safe strings too."""
    div = runtime.load(wasm("numbers")).function("div_f64")
    assert div(1, 0) == ["Infinity"]
    assert div(0, 0) == ["NaN"]
    negative_zero = div(-0.0, 1)[0]
    assert isinstance(negative_zero, float)
    assert math.copysign(1.0, negative_zero) == -1.0


def test_randomi32_is_provided(runtime: Runtime) -> None:
    """env.randomi32 answers an i32 from the OS's random source."""
    roll = runtime.load(wasm("random")).function("roll")
    values = {roll()[0] for _ in range(20)}
    assert all(isinstance(v, int) and -(1 << 31) <= v < (1 << 31) for v in values)
    assert len(values) > 1


def test_randomi32_source_is_injectable() -> None:
    """The random source is a constructor argument, so embedders and tests can fix it."""
    with Runtime(random=lambda: -42) as rt:
        assert rt.load(wasm("random")).function("roll")() == [-42]


def test_randomi32_source_is_reduced_to_i32() -> None:
    """Whatever integer an injected source returns reaches the guest as a signed i32."""
    with Runtime(random=lambda: (1 << 32) + (1 << 31)) as rt:
        assert rt.load(wasm("random")).function("roll")() == [-(1 << 31)]


def test_invocation_reports_duration_and_no_fuel_when_unmetered(runtime: Runtime) -> None:
    """invoke returns an Invocation; fuel_used is None without a fuel limit."""
    result = runtime.load(wasm("sum")).function("sum").invoke([2, 3])
    assert isinstance(result, Invocation)
    assert result.results == [5]
    assert result.duration_us >= 0
    assert result.fuel_used is None
    assert (result.stdout, result.stderr, result.output_truncated) == (b"", b"", False)


def test_fuel_used_is_reported_when_metered(runtime: Runtime) -> None:
    """With a fuel limit, fuel_used counts what the call consumed, and grows with work."""
    burn = runtime.load(wasm("burn")).function("burn")
    small = burn.invoke([10], limits=Limits(fuel=1_000_000)).fuel_used
    large = burn.invoke([1000], limits=Limits(fuel=1_000_000)).fuel_used
    assert small is not None
    assert large is not None
    assert 0 < small < large <= 1_000_000


def test_runtime_limits_apply_by_default() -> None:
    """A Runtime's own limits apply to calls that pass none."""
    with Runtime(limits=Limits(fuel=5000)) as rt:
        assert rt.load(wasm("sum")).function("sum").invoke([1, 1]).fuel_used is not None


def test_missing_function(runtime: Runtime) -> None:
    """Asking for a function the module does not export raises FunctionNotFound naming
    the callable ones."""
    with pytest.raises(FunctionNotFound, match=r"'nope'.*callable: sum"):
        runtime.load(wasm("sum")).function("nope")


def test_non_number_export_is_not_callable(runtime: Runtime) -> None:
    """An export taking v128 is left out of the catalogue and explained when asked for."""
    program = runtime.load(wasm("kitchen_sink"))
    assert "vector" not in program.functions
    with pytest.raises(FunctionNotFound, match="'vector' is not callable"):
        program.function("vector")


def test_arguments_are_checked_before_running(runtime: Runtime) -> None:
    """Wrong argument counts raise InvalidArguments with the signature in the message."""
    with pytest.raises(InvalidArguments, match=r"^sum takes 2 arguments \(i32, i32\), got 3$"):
        runtime.load(wasm("sum")).function("sum")(1, 2, 3)


def test_program_functions_catalogue(runtime: Runtime) -> None:
    """Program.functions maps every callable export, in export order, to its signature."""
    functions = runtime.load(wasm("numbers")).functions
    assert list(functions) == [
        "id_i32",
        "id_i64",
        "id_f32",
        "id_f64",
        "div_f64",
        "swap",
        "nothing",
        "add_i64",
    ]
    assert functions["swap"].describe() == "swap(i32, i64) -> (i64, i32)"


def test_closed_runtime_refuses_calls() -> None:
    """After close, loading and calling raise instead of running without a ticker."""
    rt = Runtime(config=RuntimeConfig())
    sum_ = rt.load(wasm("sum")).function("sum")
    rt.close()
    with pytest.raises(RuntimeError, match="closed"):
        sum_(1, 2)
    with pytest.raises(RuntimeError, match="closed"):
        rt.load(wasm("sum"))
