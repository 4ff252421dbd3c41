"""The codec: strict JSON-to-wasm argument checks and JSON-safe results (pure)."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures import wasm
from wess.errors import InvalidArguments
from wess.models import FunctionSignature, ValueType
from wess.runtime import Program, Runtime
from wess.runtime.codec import (
    I32_MAX,
    I32_MIN,
    I64_MAX,
    I64_MIN,
    arity_message,
    decoder_for,
    encoder_for,
)

I32, I64, F32, F64 = ValueType.I32, ValueType.I64, ValueType.F32, ValueType.F64
F32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]


def sig(*params: ValueType, results: tuple[ValueType, ...] = ()) -> FunctionSignature:
    return FunctionSignature("f", params, results)


def test_arity_message() -> None:
    """The count error names the function, its parameter types and the count given."""
    assert arity_message(FunctionSignature("sum", (I32, I32), (I32,)), 3) == (
        "sum takes 2 arguments (i32, i32), got 3"
    )
    assert arity_message(FunctionSignature("one", (I64,), ()), 0) == (
        "one takes 1 argument (i64), got 0"
    )
    assert arity_message(FunctionSignature("none", (), ()), 2) == "none takes no arguments, got 2"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (I32, I32_MAX + 1),
        (I32, I32_MIN - 1),
        (I32, 1 << 32),
        (I64, I64_MAX + 1),
        (I64, I64_MIN - 1),
        (I64, 10**400),
    ],
)
def test_integers_out_of_range_are_refused(kind: ValueType, value: int) -> None:
    """Integers outside the signed range of their type are refused, never wrapped."""
    with pytest.raises(InvalidArguments, match=f"argument 1 of f must be an {kind}, an integer"):
        decoder_for(sig(kind))([value])


@pytest.mark.parametrize("kind", [I32, I64])
@pytest.mark.parametrize("value", [1.5, 2.0, True, False, "1", None, [], {}, "NaN"])
def test_integers_must_be_json_integers(kind: ValueType, value: object) -> None:
    """Floats (even integral ones), booleans, strings, null and containers are not
    integers."""
    with pytest.raises(InvalidArguments, match=f"must be an {kind} integer; got"):
        decoder_for(sig(kind))([value])


@pytest.mark.parametrize("kind", [F32, F64])
@pytest.mark.parametrize("value", [True, "nan", "inf", "1.0", None, [1.0], {"a": 1}])
def test_floats_accept_only_numbers_and_three_strings(kind: ValueType, value: object) -> None:
    """Floats take numbers and "NaN", "Infinity", "-Infinity"; nothing else."""
    with pytest.raises(InvalidArguments, match=f"must be an {kind} number"):
        decoder_for(sig(kind))([value])


def test_f32_overflow_is_refused() -> None:
    """A finite value that would round past the f32 range is refused, not made infinite."""
    assert decoder_for(sig(F32))([F32_MAX]) == [F32_MAX]
    for value in (1e39, -1e39, 2 * F32_MAX, 10**39):
        with pytest.raises(InvalidArguments, match="beyond the f32 range"):
            decoder_for(sig(F32))([value])


def test_huge_integer_for_f64_is_refused() -> None:
    """An integer too large for a double is an argument error, not an OverflowError."""
    with pytest.raises(InvalidArguments, match="beyond the f64 range"):
        decoder_for(sig(F64))([10**400])


def test_arguments_must_be_an_array() -> None:
    """Anything but a JSON array of arguments is refused."""
    for args in ({"a": 1}, "12", 12, None):
        with pytest.raises(InvalidArguments, match="must be a JSON array"):
            decoder_for(sig(I32))(args)


def test_the_failing_argument_is_named() -> None:
    """With several arguments, the message names the one that is wrong."""
    with pytest.raises(
        InvalidArguments,
        match=r"^argument 2 of f must be an i64 integer; "
        r"got a boolean \(true\)$",
    ) as caught:
        decoder_for(sig(I32, I64))([1, True])
    assert caught.value.context["argument"] == 2


def test_results_are_json_safe() -> None:
    """Non-finite floats become strings, integers stay exact, finite floats stay floats."""
    signature = sig(results=(F64, F32, F64, I64, I32, F64))
    encoded = encoder_for(signature)([math.nan, math.inf, -math.inf, I64_MIN, -1, 0.5])
    assert encoded == ["NaN", "Infinity", "-Infinity", I64_MIN, -1, 0.5]
    json.dumps(encoded, allow_nan=False)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)
signatures = st.lists(st.sampled_from([I32, I64, F32, F64]), max_size=4).map(
    lambda params: sig(*params)
)


@given(signatures, json_values)
def test_decoding_never_crashes(signature: FunctionSignature, args: object) -> None:
    """Any JSON value as the arguments either decodes or raises InvalidArguments."""
    try:
        values = decoder_for(signature)(args)
    except InvalidArguments:
        return
    assert len(values) == len(signature.params)


@given(signatures, st.lists(json_values, max_size=4))
def test_decoding_any_list_never_crashes(signature: FunctionSignature, args: list[object]) -> None:
    """Any JSON array either decodes into values of the right types or is refused."""
    try:
        values = decoder_for(signature)(args)
    except InvalidArguments:
        return
    for kind, value in zip(signature.params, values, strict=True):
        if kind in (I32, I64):
            assert type(value) is int
        else:
            assert isinstance(value, float)


@given(st.integers(min_value=I32_MIN, max_value=I32_MAX))
def test_every_i32_is_accepted(value: int) -> None:
    """Every integer of the signed i32 range decodes to itself."""
    assert decoder_for(sig(I32))([value]) == [value]


@given(st.integers().filter(lambda v: not I32_MIN <= v <= I32_MAX))
def test_no_integer_outside_i32_is_accepted(value: int) -> None:
    """No integer outside the signed i32 range decodes."""
    with pytest.raises(InvalidArguments):
        decoder_for(sig(I32))([value])


@pytest.fixture(scope="module")
def numbers() -> Iterator[Program]:
    """The numbers.wat identity functions (module scope: hypothesis reruns the test)."""
    with Runtime() as rt:
        yield rt.load(wasm("numbers"))


@given(value=st.integers(min_value=I64_MIN, max_value=I64_MAX))
def test_i64_round_trip(numbers: Program, value: int) -> None:
    """Every i64 survives a trip through the guest's identity function exactly."""
    assert numbers.function("id_i64")(value) == [value]


@given(value=st.integers(min_value=I32_MIN, max_value=I32_MAX))
def test_i32_round_trip(numbers: Program, value: int) -> None:
    """Every i32 survives a trip through the guest's identity function exactly."""
    assert numbers.function("id_i32")(value) == [value]


def _json_float(value: float) -> object:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


@given(value=st.floats())
def test_f64_round_trip(numbers: Program, value: float) -> None:
    """Every double, NaN and infinities included, comes back as itself (JSON-safe)."""
    [result] = numbers.function("id_f64")(value)
    assert result == _json_float(value)
    if isinstance(result, float):
        assert math.copysign(1.0, result) == math.copysign(1.0, value)


@given(value=st.floats(width=32))
def test_f32_round_trip(numbers: Program, value: float) -> None:
    """Every f32 value comes back exactly as the double it widens to."""
    [result] = numbers.function("id_f32")(value)
    assert result == _json_float(value)
    if isinstance(result, float):
        assert math.copysign(1.0, result) == math.copysign(1.0, value)


@given(value=st.sampled_from(["NaN", "Infinity", "-Infinity"]))
def test_special_strings_round_trip(numbers: Program, value: str) -> None:
    """The three special strings come back as themselves from f32 and f64 identities."""
    assert numbers.function("id_f64")(value) == [value]
    assert numbers.function("id_f32")(value) == [value]
