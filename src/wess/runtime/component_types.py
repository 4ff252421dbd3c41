"""Component-model types as Wess reads them: their WIT spelling, and which can be called.

Pure functions over wasmtime-py's type objects (``wasmtime.component.ValType`` and
``FuncType``): ``wit_of`` spells a type as WIT (``list<string>``,
``record { name: string, age: u32 }``), ``func_wit`` a whole function
(``func(who: string) -> string``), and ``callable_type`` says whether Wess can pass
every value of a function as JSON (resources, futures, streams and error contexts
cannot cross a JSON boundary, so such functions are left out of the catalogue).

``cases_of`` and ``tagged`` mirror how wasmtime-py 50 represents variant-like values
(variants, options, results) in Python: when the Python classes of two cases overlap
the value is a ``Variant(tag, payload)``, otherwise it is the bare payload.
"""

from __future__ import annotations

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
    BorrowType,
    Char,
    EnumType,
    ErrorContext,
    FlagsType,
    FuncType,
    FutureType,
    ListType,
    OptionType,
    OwnType,
    RecordType,
    ResultType,
    StreamType,
    String,
    TupleType,
    ValType,
    VariantType,
)

PRIMITIVES: dict[type, str] = {
    Bool: "bool",
    S8: "s8",
    S16: "s16",
    S32: "s32",
    S64: "s64",
    U8: "u8",
    U16: "u16",
    U32: "u32",
    U64: "u64",
    F32: "f32",
    F64: "f64",
    Char: "char",
    String: "string",
}
OPAQUE = (OwnType, BorrowType, FutureType, StreamType, ErrorContext)
"""Types whose values are handles into a store: nothing JSON can carry."""

Case = tuple[str, ValType | None]


def wit_of(ty: ValType) -> str:
    """``ty`` spelled as WIT; records, variants, enums and flags are spelled out (the
    component's own names for them are not part of its types)."""
    name = PRIMITIVES.get(type(ty))
    if name is not None:
        return name
    if isinstance(ty, ListType):
        return f"list<{wit_of(ty.element)}>"
    if isinstance(ty, TupleType):
        return f"tuple<{', '.join(wit_of(e) for e in ty.elements)}>"
    if isinstance(ty, OptionType):
        return f"option<{wit_of(ty.payload)}>"
    if isinstance(ty, ResultType):
        return _result_wit(ty.ok, ty.err)
    if isinstance(ty, RecordType):
        fields = ", ".join(f"{name}: {wit_of(field)}" for name, field in ty.fields)
        return f"record {{ {fields} }}"
    if isinstance(ty, VariantType):
        cases = ", ".join(
            name if payload is None else f"{name}({wit_of(payload)})" for name, payload in ty.cases
        )
        return f"variant {{ {cases} }}"
    if isinstance(ty, EnumType):
        return f"enum {{ {', '.join(ty.names)} }}"
    if isinstance(ty, FlagsType):
        return f"flags {{ {', '.join(ty.names)} }}"
    if isinstance(ty, OwnType):
        return "own<resource>"
    if isinstance(ty, BorrowType):
        return "borrow<resource>"
    if isinstance(ty, FutureType):
        return "future"
    if isinstance(ty, StreamType):
        return "stream"
    return "error-context"


def _result_wit(ok: ValType | None, err: ValType | None) -> str:
    if ok is None and err is None:
        return "result"
    if err is None:
        assert ok is not None
        return f"result<{wit_of(ok)}>"
    shown_ok = "_" if ok is None else wit_of(ok)
    return f"result<{shown_ok}, {wit_of(err)}>"


def func_wit(ty: FuncType) -> str:
    """``func(who: string) -> string``."""
    params = ", ".join(f"{name}: {wit_of(param)}" for name, param in ty.params)
    result = ty.result
    return f"func({params})" if result is None else f"func({params}) -> {wit_of(result)}"


def callable_type(ty: FuncType) -> bool:
    """Whether every parameter and the result can be passed as JSON."""
    types = [param for _, param in ty.params]
    if ty.result is not None:
        types.append(ty.result)
    return all(_plain(t) for t in types)


def _plain(ty: ValType) -> bool:
    if isinstance(ty, OPAQUE):
        return False
    if isinstance(ty, ListType):
        return _plain(ty.element)
    if isinstance(ty, TupleType):
        return all(_plain(e) for e in ty.elements)
    if isinstance(ty, RecordType):
        return all(_plain(f) for _, f in ty.fields)
    if isinstance(ty, (OptionType, ResultType, VariantType)):
        return all(p is None or _plain(p) for _, p in cases_of(ty))
    return True


def cases_of(ty: OptionType | ResultType | VariantType) -> list[Case]:
    """The cases of a variant-like type, as wasmtime-py orders them."""
    if isinstance(ty, OptionType):
        return [("none", None), ("some", ty.payload)]
    if isinstance(ty, ResultType):
        return [("ok", ty.ok), ("err", ty.err)]
    return list(ty.cases)


def python_classes(ty: ValType | None) -> set[type]:
    """The Python classes wasmtime-py uses for values of ``ty`` (``object`` for none)."""
    classes: set[type] = set()
    if ty is None:
        classes.add(object)
    else:
        ty.add_classes(classes)
    return classes


def tagged(cases: list[Case]) -> bool:
    """Whether wasmtime-py passes values of these cases as ``Variant(tag, payload)``:
    when the Python classes of two cases overlap, a bare payload would not say which."""
    seen: set[type] = set()
    for _, payload in cases:
        classes = python_classes(payload)
        if classes & seen:
            return True
        seen |= classes
    return False
