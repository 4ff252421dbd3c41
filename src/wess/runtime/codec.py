"""JSON arguments to wasm values and wasm results back to JSON, checked strictly.

Pure functions, no wasmtime. Integers must be JSON integers within the signed range
of their type (never wrapped, never truncated from a float); booleans are not
numbers; floats accept integers, numbers and the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``; an f32 argument whose magnitude rounds beyond the f32 range is
refused rather than turned into infinity. Results come back JSON-safe: non-finite
floats as those three strings, i64 as exact integers, f32 as the double it widens to.

Converters are built once per signature (``decoder_for``, ``encoder_for``) so a call
pays for a loop over its own arguments and nothing else.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence

from wess.errors import InvalidArguments
from wess.models import FunctionSignature, ValueType

Number = int | float
JsonValue = int | float | str
Decoder = Callable[[object], Sequence[Number]]
Encoder = Callable[[Sequence[Number]], list[JsonValue]]

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_INF = math.inf
_F32 = struct.Struct("<f")


class _Rejected(Exception):
    """One argument is wrong; the decoder adds which one and of which function."""


def _integer(kind: ValueType, low: int, high: int) -> Callable[[object], Number]:
    def convert(value: object) -> Number:
        if type(value) is int and low <= value <= high:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if low <= value <= high:
                return int(value)
            raise _Rejected(
                f"must be an {kind}, an integer in [{low}, {high}]; got {describe(value)}"
            )
        raise _Rejected(f"must be an {kind} integer; got {describe(value)}")

    return convert


def _to_float(value: object, kind: ValueType) -> float:
    if type(value) is float:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise _Rejected(f"is beyond the {kind} range; got {describe(value)}") from None
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str) and value in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[value]
    raise _Rejected(
        f'must be an {kind} number or "NaN", "Infinity", "-Infinity"; got {describe(value)}'
    )


def _to_f64(value: object) -> Number:
    return _to_float(value, ValueType.F64)


def _to_f32(value: object) -> Number:
    number = _to_float(value, ValueType.F32)
    try:
        _F32.pack(number)  # raises exactly when rounding to f32 would overflow
    except OverflowError:
        raise _Rejected(
            f"is beyond the f32 range (about ±3.4028235e38); got {describe(value)}"
        ) from None
    return number


INTEGER_BOUNDS = {ValueType.I32: (I32_MIN, I32_MAX), ValueType.I64: (I64_MIN, I64_MAX)}
CONVERTERS: dict[ValueType, Callable[[object], Number]] = {
    ValueType.I32: _integer(ValueType.I32, I32_MIN, I32_MAX),
    ValueType.I64: _integer(ValueType.I64, I64_MIN, I64_MAX),
    ValueType.F32: _to_f32,
    ValueType.F64: _to_f64,
}


def decoder_for(signature: FunctionSignature) -> Decoder:
    """A function turning JSON arguments into the values ``signature`` takes.

    It raises ``InvalidArguments`` for anything else: a count that differs (``sum
    takes 2 arguments (i32, i32), got 3``) or an argument of the wrong type or range.
    Well-formed integer arguments take a fast path that only checks them.
    """
    converters = tuple(CONVERTERS[kind] for kind in signature.params)
    count = len(converters)
    name = signature.name

    def checked(args: object) -> Sequence[Number]:
        if not isinstance(args, (list, tuple)):
            raise InvalidArguments(
                f"the arguments of {name} must be a JSON array; got {describe(args)}", function=name
            )
        if len(args) != count:
            raise InvalidArguments(
                arity_message(signature, len(args)), function=name, expected=count, given=len(args)
            )
        values = []
        for index, (convert, value) in enumerate(zip(converters, args, strict=True)):
            try:
                values.append(convert(value))
            except _Rejected as exc:
                raise InvalidArguments(
                    f"argument {index + 1} of {name} {exc}", function=name, argument=index + 1
                ) from None
        return values

    if all(kind in INTEGER_BOUNDS for kind in signature.params):
        return _integer_decoder(tuple(INTEGER_BOUNDS[k] for k in signature.params), checked)

    def decode(args: object) -> Sequence[Number]:
        if (type(args) is list or type(args) is tuple) and len(args) == count:
            try:
                return [convert(value) for convert, value in zip(converters, args)]  # noqa: B905
            except _Rejected:
                pass
        return checked(args)

    return decode


def _integer_decoder(bounds: tuple[tuple[int, int], ...], checked: Decoder) -> Decoder:
    """Integer-only signatures: well-formed arguments are only checked, not converted,
    and the common arities are spelled out (twice as quick as a loop)."""
    count = len(bounds)
    if count == 1:
        ((low, high),) = bounds

        def decode_one(args: object) -> Sequence[Number]:
            if (
                (type(args) is list or type(args) is tuple)
                and len(args) == 1
                and type(a := args[0]) is int
                and low <= a <= high
            ):
                return args
            return checked(args)

        return decode_one
    if count == 2:
        (low0, high0), (low1, high1) = bounds

        def decode_two(args: object) -> Sequence[Number]:
            if (type(args) is list or type(args) is tuple) and len(args) == 2:
                a, b = args
                if type(a) is int and type(b) is int and low0 <= a <= high0 and low1 <= b <= high1:
                    return args
            return checked(args)

        return decode_two

    def decode_many(args: object) -> Sequence[Number]:
        if (type(args) is list or type(args) is tuple) and len(args) == count:
            for value, (low, high) in zip(args, bounds):  # noqa: B905 (length checked)
                if type(value) is not int or not low <= value <= high:
                    break
            else:
                return args
        return checked(args)

    return decode_many


def _json_float(value: Number) -> JsonValue:
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float(value)


def encoder_for(signature: FunctionSignature) -> Encoder:
    """A function turning the raw results of ``signature`` into JSON-safe values."""
    floats = tuple(kind in (ValueType.F32, ValueType.F64) for kind in signature.results)
    if not any(floats):
        return _integers

    def encode(values: Sequence[Number]) -> list[JsonValue]:
        return [
            _json_float(value) if is_float else int(value)
            for is_float, value in zip(floats, values, strict=True)
        ]

    return encode


def _integers(values: Sequence[Number]) -> list[JsonValue]:
    """Integer results are already exact Python ints: a copy is all they need."""
    return list(values)


def arity_message(signature: FunctionSignature, given: int) -> str:
    """``sum takes 2 arguments (i32, i32), got 3``."""
    count = len(signature.params)
    if count == 0:
        return f"{signature.name} takes no arguments, got {given}"
    noun = "argument" if count == 1 else "arguments"
    return f"{signature.name} takes {count} {noun} ({', '.join(signature.params)}), got {given}"


def describe(value: object) -> str:
    """A short, safe description of a JSON value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        if abs(value) >= 10**30:
            return "an integer of more than 30 digits"
        return str(int(value))
    if isinstance(value, float):
        return f"a float ({_json_float(value)})"
    if isinstance(value, str):
        text = value if len(value) <= 20 else value[:17] + "..."
        return f"a string ({text!r})"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"
