"""JSON <-> component-model values: every type's JSON form, checked against wasmtime's
own lowering and lifting (JSON -> Python value -> wasmtime's C value -> back -> JSON)."""

from __future__ import annotations

import ctypes

import pytest
import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from wess.errors import InvalidArguments
from wess.runtime.component_types import callable_type, func_wit, wit_of
from wess.runtime.component_values import component_decoder, lifting, lowering

TYPES = """
(component
  (type $person' (record (field "name" string) (field "age" u32)))
  (import "person" (type $person (eq $person')))
  (type $shape' (variant (case "circle" f64) (case "square" f64) (case "dot")))
  (import "shape" (type $shape (eq $shape')))
  (type $either' (variant (case "n" u32) (case "s" string)))
  (import "either" (type $either (eq $either')))
  (type $mood' (enum "happy" "sad"))
  (import "mood" (type $mood (eq $mood')))
  (type $perms' (flags "read" "write" "exec"))
  (import "perms" (type $perms (eq $perms')))
  (import "t-person" (func (param "x" $person)))
  (import "t-shape" (func (param "x" $shape)))
  (import "t-either" (func (param "x" $either)))
  (import "t-mood" (func (param "x" $mood)))
  (import "t-perms" (func (param "x" $perms)))
  (import "t-option" (func (param "x" (option string))))
  (import "t-option2" (func (param "x" (option (option u8)))))
  (import "t-result" (func (param "x" (result u32 (error string)))))
  (import "t-result-same" (func (param "x" (result string (error string)))))
  (import "t-result-empty" (func (param "x" (result))))
  (import "t-result-err" (func (param "x" (result (error string)))))
  (import "t-tuple" (func (param "x" (tuple u8 char bool))))
  (import "t-bytes" (func (param "x" (list u8))))
  (import "t-floats" (func (param "x" (list f32))))
  (import "t-s64" (func (param "x" s64)))
  (import "t-u64" (func (param "x" u64)))
  (import "t-nested" (func (param "x" (list (option $person))) (result $person)))
)
"""


@pytest.fixture(scope="module")
def functions() -> dict[str, wc.FuncType]:
    engine = wasmtime.Engine()
    component = wc.Component(engine, TYPES)
    found = {}
    for name, item in component.type.imports(engine).items():
        if isinstance(item.ty, wc.FuncType):
            found[name] = item.ty
    return found


def param(functions: dict[str, wc.FuncType], name: str) -> wc.ValType:
    ((_, ty),) = functions[name].params
    return ty


def through_wasmtime(ty: wc.ValType, value: object) -> object:
    """``value`` lowered by Wess, converted to wasmtime's C value and back, lifted."""
    raw = ffi.wasmtime_component_val_t()
    ty.convert_to_c(None, lowering(ty)(value), ctypes.pointer(raw))
    return lifting(ty)(ty.convert_from_c(raw))


@pytest.mark.parametrize(
    ("function", "value"),
    [
        ("t-person", {"name": "Ann", "age": 41}),
        ("t-shape", {"circle": 2.5}),
        ("t-shape", {"dot": None}),
        ("t-either", {"n": 7}),
        ("t-either", {"s": "seven"}),
        ("t-mood", "sad"),
        ("t-perms", ["read", "exec"]),
        ("t-perms", []),
        ("t-option", None),
        ("t-option", "here"),
        ("t-option2", None),
        ("t-option2", {"some": None}),
        ("t-option2", {"some": 3}),
        ("t-result", {"ok": 5}),
        ("t-result", {"err": "bad"}),
        ("t-result-same", {"ok": "fine"}),
        ("t-result-same", {"err": "bad"}),
        ("t-result-empty", {"ok": None}),
        ("t-result-empty", {"err": None}),
        ("t-result-err", {"ok": None}),
        ("t-result-err", {"err": "bad"}),
        ("t-tuple", [255, "é", True]),
        ("t-bytes", [0, 1, 255]),
        ("t-floats", [1.5, "NaN", "Infinity", "-Infinity"]),
        ("t-s64", -(1 << 63)),
        ("t-u64", (1 << 64) - 1),
        ("t-nested", [None, {"name": "B", "age": 0}]),
    ],
)
def test_json_round_trips_through_wasmtime(functions, function, value):
    """Each JSON form is what wasmtime accepts, and what comes back is the same JSON."""
    assert through_wasmtime(param(functions, function), value) == value


@pytest.mark.parametrize(
    ("function", "value", "fragment"),
    [
        ("t-person", {"name": "A", "age": 1, "x": 2}, "unknown x"),
        ("t-person", ["A", 1], "must be an object with fields name, age"),
        ("t-shape", {"circle": 1, "dot": None}, "one key of circle, square, dot"),
        ("t-shape", {"hexagon": 1}, "has no case"),
        ("t-shape", {"dot": 1}, "case dot takes no value"),
        ("t-mood", "angry", "must be one of happy, sad"),
        ("t-perms", ["fly"], "flags among read, write, exec"),
        ("t-option2", 3, 'must be null or {"some": value}'),
        ("t-tuple", [1, "ab", True], "[1] must be a string of one character"),
        ("t-tuple", [1, "a"], "must be an array of 3"),
        ("t-bytes", [256], "[0] must be a u8"),
        ("t-floats", [1e39], "beyond the f32 range"),
        ("t-s64", 1 << 63, "must be a s64"),
        ("t-u64", -1, "must be a u64"),
        ("t-nested", [{"name": "B"}], "[0] must have exactly the fields"),
    ],
)
def test_wrong_values_are_refused(functions, function, value, fragment):
    """A JSON value that does not fit its type is InvalidArguments naming where."""
    decode = component_decoder(function, functions[function])
    with pytest.raises(InvalidArguments) as caught:
        decode([value])
    assert fragment in caught.value.detail


def test_wit_spelling(functions):
    """Types are spelled as WIT, records and variants spelled out."""
    assert wit_of(param(functions, "t-result-err")) == "result<_, string>"
    assert wit_of(param(functions, "t-result-empty")) == "result"
    assert wit_of(param(functions, "t-shape")) == "variant { circle(f64), square(f64), dot }"
    assert wit_of(param(functions, "t-perms")) == "flags { read, write, exec }"
    assert func_wit(functions["t-nested"]) == (
        "func(x: list<option<record { name: string, age: u32 }>>) -> "
        "record { name: string, age: u32 }"
    )


def test_resources_are_not_callable():
    """A function taking a resource handle cannot be called with JSON."""
    engine = wasmtime.Engine()
    component = wc.Component(
        engine,
        """(component
             (import "r" (type $r (sub resource)))
             (import "use" (func (param "x" (borrow $r)))))""",
    )
    ty = component.type.imports(engine)["use"].ty
    assert not callable_type(ty)
