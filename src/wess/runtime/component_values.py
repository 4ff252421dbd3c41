"""JSON arguments to component-model values and results back to JSON, checked strictly.

Pure: converters are built once per function from its wasmtime-py types and turn JSON
into the Python values wasmtime-py lowers (and back). The JSON form of each type:

| WIT | JSON |
|---|---|
| ``bool`` | ``true`` / ``false`` |
| ``s8`` … ``u64`` | an integer within the type's range (never a float, never a boolean) |
| ``f32``, ``f64`` | a number, or ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` |
| ``char`` | a string of one character |
| ``string`` | a string |
| ``list<T>`` | an array (``list<u8>`` too: integers 0-255) |
| ``tuple<A, B>`` | an array of that length |
| ``record { a: T, … }`` | an object with exactly those fields |
| ``option<T>`` | ``null`` or the value (``{"some": v}`` when ``T`` is an option itself) |
| ``result<T, E>`` | ``{"ok": v}`` or ``{"err": e}`` (``null`` for a case without a type) |
| ``variant { c(T), d }`` | ``{"c": v}`` or ``{"d": null}`` |
| ``enum { a, b }`` | the case's name, ``"a"`` |
| ``flags { a, b }`` | an array of the names set, ``["a"]`` |

A wrong value raises ``InvalidArguments`` naming the argument and the path inside it
(``argument 1 (p) of birthday: .age must be a u32 ...``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

from wasmtime.component import (
    F32,
    F64,
    S8,
    S16,
    S32,
    S64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    Char,
    EnumType,
    FlagsType,
    FuncType,
    ListType,
    OptionType,
    Record,
    RecordType,
    ResultType,
    String,
    TupleType,
    ValType,
    Variant,
    VariantType,
)

from wess.errors import InvalidArguments
from wess.runtime.codec import SPECIAL_FLOATS, describe
from wess.runtime.component_types import Case, cases_of, python_classes, tagged, wit_of

Lower = Callable[[object], Any]
"""JSON -> the Python value wasmtime-py lowers."""
Lift = Callable[[Any], Any]
"""The Python value wasmtime-py lifted -> JSON."""

INTEGERS: dict[type, tuple[str, int, int]] = {
    S8: ("s8", -(1 << 7), (1 << 7) - 1),
    S16: ("s16", -(1 << 15), (1 << 15) - 1),
    S32: ("s32", -(1 << 31), (1 << 31) - 1),
    S64: ("s64", -(1 << 63), (1 << 63) - 1),
    U8: ("u8", 0, (1 << 8) - 1),
    U16: ("u16", 0, (1 << 16) - 1),
    U32: ("u32", 0, (1 << 32) - 1),
    U64: ("u64", 0, (1 << 64) - 1),
}
_F32 = struct.Struct("<f")


class _Rejected(Exception):
    """A value does not fit its type; ``path`` says where inside the argument."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def inside(self, step: str) -> _Rejected:
        return _Rejected(self.message, step + self.path)


# -- JSON -> values --------------------------------------------------------------------------


def lowering(ty: ValType) -> Lower:
    """The converter of JSON values of ``ty``."""
    bounds = INTEGERS.get(type(ty))
    if bounds is not None:
        return _integer(*bounds)
    if isinstance(ty, String):
        return _string
    if isinstance(ty, Bool):
        return _bool
    if isinstance(ty, (F32, F64)):
        return _float(ty)
    if isinstance(ty, Char):
        return _char
    if isinstance(ty, ListType):
        return _list(ty)
    if isinstance(ty, TupleType):
        return _tuple(ty)
    if isinstance(ty, RecordType):
        return _record(ty)
    if isinstance(ty, EnumType):
        return _enum(ty)
    if isinstance(ty, FlagsType):
        return _flags(ty)
    if isinstance(ty, OptionType):
        return _option(ty)
    if isinstance(ty, (ResultType, VariantType)):
        return _variant(ty)
    raise TypeError(f"values of {wit_of(ty)} cannot be passed as JSON")


def _integer(kind: str, low: int, high: int) -> Lower:
    def lower(value: object) -> int:
        if type(value) is int and low <= value <= high:
            return value
        raise _Rejected(f"must be a {kind}, an integer in [{low}, {high}]; got {describe(value)}")

    return lower


def _string(value: object) -> str:
    if type(value) is str:
        return value
    raise _Rejected(f"must be a string; got {describe(value)}")


def _bool(value: object) -> bool:
    if type(value) is bool:
        return value
    raise _Rejected(f"must be true or false; got {describe(value)}")


def _char(value: object) -> str:
    if type(value) is str and len(value) == 1 and not 0xD800 <= ord(value) <= 0xDFFF:
        return value
    raise _Rejected(f"must be a string of one character; got {describe(value)}")


def _float(ty: F32 | F64) -> Lower:
    kind = "f32" if isinstance(ty, F32) else "f64"

    def lower(value: object) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                raise _Rejected(f"is beyond the {kind} range; got {describe(value)}") from None
        elif isinstance(value, str) and value in SPECIAL_FLOATS:
            number = SPECIAL_FLOATS[value]
        else:
            raise _Rejected(
                f'must be a {kind} number or "NaN", "Infinity", "-Infinity"; got {describe(value)}'
            )
        if kind == "f32" and math.isfinite(number):
            try:
                _F32.pack(number)
            except OverflowError:
                raise _Rejected(f"is beyond the f32 range; got {describe(value)}") from None
        return number

    return lower


def _list(ty: ListType) -> Lower:
    element = ty.element
    convert = lowering(element)
    as_bytes = isinstance(element, U8)

    def lower(value: object) -> list[Any] | bytes:
        if type(value) is not list:
            raise _Rejected(f"must be an array ({wit_of(ty)}); got {describe(value)}")
        items = []
        for index, item in enumerate(value):
            try:
                items.append(convert(item))
            except _Rejected as exc:
                raise exc.inside(f"[{index}]") from None
        return bytes(items) if as_bytes else items

    return lower


def _tuple(ty: TupleType) -> Lower:
    converters = [lowering(e) for e in ty.elements]

    def lower(value: object) -> tuple[Any, ...]:
        if type(value) is not list or len(value) != len(converters):
            raise _Rejected(
                f"must be an array of {len(converters)} ({wit_of(ty)}); got {describe(value)}"
            )
        items = []
        for index, (convert, item) in enumerate(zip(converters, value, strict=True)):
            try:
                items.append(convert(item))
            except _Rejected as exc:
                raise exc.inside(f"[{index}]") from None
        return tuple(items)

    return lower


def _record(ty: RecordType) -> Lower:
    fields = [(name, lowering(field)) for name, field in ty.fields]
    names = {name for name, _ in fields}
    shown = ", ".join(name for name, _ in fields)

    def lower(value: object) -> Record:
        if type(value) is not dict:
            raise _Rejected(f"must be an object with fields {shown}; got {describe(value)}")
        if value.keys() != names:
            missing = sorted(names - value.keys())
            unknown = sorted(str(k) for k in value.keys() - names)
            parts = [f"missing {', '.join(missing)}"] if missing else []
            parts += [f"unknown {', '.join(unknown[:5])}"] if unknown else []
            raise _Rejected(f"must have exactly the fields {shown} ({'; '.join(parts)})")
        record = Record()
        for name, convert in fields:
            try:
                setattr(record, name, convert(value[name]))
            except _Rejected as exc:
                raise exc.inside(f".{name}") from None
        return record

    return lower


def _enum(ty: EnumType) -> Lower:
    names = ty.names

    def lower(value: object) -> str:
        if type(value) is str and value in names:
            return value
        raise _Rejected(f"must be one of {', '.join(names)}; got {describe(value)}")

    return lower


def _flags(ty: FlagsType) -> Lower:
    names = ty.names

    def lower(value: object) -> set[str]:
        if type(value) is list and all(type(v) is str and v in names for v in value):
            return set(value)
        raise _Rejected(
            f"must be an array of flags among {', '.join(names)}; got {describe(value)}"
        )

    return lower


def _option(ty: OptionType) -> Lower:
    payload = ty.payload
    convert = lowering(payload)
    if tagged(cases_of(ty)):  # option<option<T>>: {"some": v} or null

        def lower_tagged(value: object) -> Variant | None:
            if value is None:
                return Variant("none")
            if type(value) is dict and value.keys() == {"some"}:
                try:
                    return Variant("some", convert(value["some"]))
                except _Rejected as exc:
                    raise exc.inside(".some") from None
            raise _Rejected(f'must be null or {{"some": value}}; got {describe(value)}')

        return lower_tagged

    def lower(value: object) -> Any:
        return None if value is None else convert(value)

    return lower


def _variant(ty: ResultType | VariantType) -> Lower:
    cases = cases_of(ty)
    converters = {name: (None if p is None else lowering(p)) for name, p in cases}
    is_tagged = tagged(cases)
    shown = ", ".join(name for name, _ in cases)

    def lower(value: object) -> Any:
        if type(value) is not dict or len(value) != 1:
            raise _Rejected(f"must be an object with one key of {shown}; got {describe(value)}")
        ((name, payload),) = value.items()
        if name not in converters:
            raise _Rejected(f"has no case {describe(name)}; cases: {shown}")
        convert = converters[name]
        if convert is None:
            if payload is not None:
                raise _Rejected(f"case {name} takes no value: give null", f".{name}")
            converted = None
        else:
            try:
                converted = convert(payload)
            except _Rejected as exc:
                raise exc.inside(f".{name}") from None
        return Variant(name, converted) if is_tagged else converted

    return lower


# -- values -> JSON --------------------------------------------------------------------------


def lifting(ty: ValType) -> Lift:
    """The converter of values of ``ty`` that wasmtime-py lifted into JSON."""
    if isinstance(ty, (F32, F64)):
        return _json_float
    if isinstance(ty, ListType):
        convert = lifting(ty.element)
        return lambda value: [convert(v) for v in value]
    if isinstance(ty, TupleType):
        elements = [lifting(e) for e in ty.elements]
        return lambda value: [c(v) for c, v in zip(elements, value, strict=True)]
    if isinstance(ty, RecordType):
        fields = [(name, lifting(field)) for name, field in ty.fields]
        return lambda value: {name: c(getattr(value, name)) for name, c in fields}
    if isinstance(ty, FlagsType):
        order = ty.names
        return lambda value: [name for name in order if name in value]
    if isinstance(ty, OptionType):
        return _lift_option(ty)
    if isinstance(ty, (ResultType, VariantType)):
        return _lift_variant(cases_of(ty))
    return _same


def _same(value: Any) -> Any:
    return value


def _json_float(value: float) -> float | str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def _lift_option(ty: OptionType) -> Lift:
    convert = lifting(ty.payload)
    if tagged(cases_of(ty)):
        return lambda value: None if value.tag == "none" else {"some": convert(value.payload)}
    return lambda value: None if value is None else convert(value)


def _lift_variant(cases: list[Case]) -> Lift:
    converters = {name: (None if p is None else lifting(p)) for name, p in cases}
    if tagged(cases):

        def lift_tagged(value: Variant) -> dict[str, Any]:
            convert = converters[value.tag]
            return {value.tag: None if convert is None else convert(value.payload)}

        return lift_tagged
    matchers = [(name, p, python_classes(p)) for name, p in cases]

    def lift(value: Any) -> dict[str, Any]:
        for name, payload, classes in matchers:
            if payload is None:
                if value is None:
                    return {name: None}
            elif isinstance(value, tuple(classes)):
                convert = converters[name]
                assert convert is not None
                return {name: convert(value)}
        raise ValueError(f"a value of none of the cases {[n for n, _ in cases]}: {value!r}")

    return lift


# -- whole functions -------------------------------------------------------------------------


def component_decoder(name: str, ty: FuncType) -> Callable[[object], Sequence[Any]]:
    """JSON ``args`` (an array, one item per parameter) -> the values ``ty`` takes;
    ``InvalidArguments`` naming the argument and where inside it a value is wrong."""
    params = ty.params
    converters = [(param, lowering(param_type)) for param, param_type in params]
    count = len(converters)
    shown = ", ".join(f"{param}: {wit_of(t)}" for param, t in params)

    def decode(args: object) -> Sequence[Any]:
        if type(args) is not list and type(args) is not tuple:
            raise InvalidArguments(
                f"the arguments of {name} must be a JSON array; got {describe(args)}", function=name
            )
        if len(args) != count:
            raise InvalidArguments(
                f"{name} takes {count} argument{'' if count == 1 else 's'} ({shown}), "
                f"got {len(args)}",
                function=name,
                expected=count,
                given=len(args),
            )
        values = []
        for index, ((param, convert), value) in enumerate(zip(converters, args, strict=True)):
            try:
                values.append(convert(value))
            except _Rejected as exc:
                where = f"{exc.path} " if exc.path else ""
                raise InvalidArguments(
                    f"argument {index + 1} ({param}) of {name}: {where}{exc.message}".replace(
                        ":  ", ": "
                    ),
                    function=name,
                    argument=index + 1,
                ) from None
        return values

    return decode


def component_encoder(ty: FuncType) -> Callable[[Any], list[Any]]:
    """The lifted result of ``ty`` -> the JSON ``results`` list: ``[]`` or ``[value]``."""
    result = ty.result
    if result is None:
        return lambda _: []
    convert = lifting(result)
    return lambda value: [convert(value)]
