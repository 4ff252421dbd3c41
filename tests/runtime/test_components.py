"""Components (WASI 0.2): catalogue from their types, calls with JSON values, limits,
traps, artifacts and the isolated compiler."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from wess.errors import (
    ExecutionTimeout,
    FunctionNotFound,
    InvalidArguments,
    InvalidWasm,
    Trap,
    UnknownImport,
)
from wess.runtime import Runtime, RuntimeConfig
from wess.runtime.artifact import decode_artifact, encode_artifact
from wess.runtime.isolated import IsolatedCompiler
from wess.runtime.wasmbin import is_component

EXAMPLES = Path(__file__).parents[2] / "examples" / "components"
GREETER = (EXAMPLES / "greeter.wasm").read_bytes()


@pytest.fixture(scope="module")
def rt():
    with Runtime() as runtime:
        yield runtime


def test_prebuilt_greeter_is_built_from_its_source():
    """examples/components/greeter.wasm is exactly what greeter.wat assembles to."""
    assert bytes(wasmtime.wat2wasm((EXAMPLES / "greeter.wat").read_text())) == GREETER


def test_components_are_told_from_modules():
    """The header's layer field tells a component from a core module."""
    assert is_component(GREETER)
    assert not is_component(wasmtime.wat2wasm("(module)"))
    assert not is_component(b"\0asm")


def test_catalogue_read_from_component_types(rt):
    """Every exported function is listed with its WIT type; core params are empty."""
    program = rt.load(GREETER)
    assert program.analysis.component
    wit = {name: f.wit for name, f in program.functions.items()}
    assert wit == {
        "greet": "func(who: string) -> string",
        "birthday": "func(p: record { name: string, age: u32 }) -> "
        "record { name: string, age: u32 }",
        "count": "func(words: list<string>) -> u32",
        "check-age": "func(age: s32) -> result<s32, string>",
        "spin": "func()",
        "crash": "func() -> u32",
    }
    assert all(f.params == () and f.results == () for f in program.functions.values())


def test_strings_records_lists_and_results(rt):
    """JSON in, JSON out, through the component model's values."""
    program = rt.load(GREETER)
    assert program.function("greet")("Zoë") == ["Hello, Zoë!"]
    assert program.function("birthday")({"name": "Ann", "age": 41}) == [{"name": "Ann", "age": 42}]
    assert program.function("count")(["a", "b", "c"]) == [3]
    assert program.function("check-age")(7) == [{"ok": 7}]
    assert program.function("check-age")(-1) == [{"err": "age must not be negative"}]
    assert program.function("spin").call_path == "component"


@pytest.mark.parametrize(
    ("function", "args", "fragment"),
    [
        ("greet", [1], "argument 1 (who) of greet: must be a string; got 1"),
        ("greet", [], "greet takes 1 argument (who: string), got 0"),
        ("birthday", [{"name": "x"}], "must have exactly the fields name, age (missing age)"),
        ("birthday", [{"name": "x", "age": -1}], ".age must be a u32"),
        ("birthday", [{"name": "x", "age": 1.5}], ".age must be a u32"),
        ("count", [["a", 2]], "[1] must be a string; got 2"),
        ("check-age", [True], "must be a s32"),
    ],
)
def test_wrong_arguments_name_where(rt, function, args, fragment):
    """A value that does not fit is refused before the call, naming the argument and
    the path inside it."""
    with pytest.raises(InvalidArguments) as caught:
        rt.load(GREETER).function(function).invoke(args)
    assert fragment in caught.value.detail


def test_traps_timeouts_and_fuel(rt):
    """Component calls run under the same limits as core modules."""
    program = rt.load(GREETER)
    with pytest.raises(Trap) as trapped:
        program.function("crash").invoke([])
    assert trapped.value.context["kind"] == "unreachable"
    with pytest.raises(ExecutionTimeout):
        program.function("spin").invoke([], limits=rt.limits.narrowed(timeout_ms=50))
    with pytest.raises(Trap) as fuel:
        program.function("spin").invoke([], limits=rt.limits.narrowed(fuel=10_000))
    assert fuel.value.context["kind"] == "out_of_fuel"
    used = program.function("greet").invoke(["x"], limits=rt.limits.narrowed(fuel=10**9))
    assert used.fuel_used is not None
    assert used.fuel_used > 0


def test_unknown_function_is_not_found(rt):
    """A name the component does not export is FunctionNotFound, listing the callable."""
    with pytest.raises(FunctionNotFound) as caught:
        rt.load(GREETER).function("shout")
    assert "greet" in caught.value.detail


def test_imports_beyond_wasi_are_refused(rt):
    """A component importing an interface Wess does not provide is refused by name."""
    importing = wasmtime.wat2wasm(
        '(component (import "acme:db/query@1.0.0" (instance (export "run" (func)))))'
    )
    with pytest.raises(UnknownImport) as caught:
        rt.load(importing)
    assert caught.value.context["import_name"] == "acme:db/query@1.0.0"


def test_broken_component_is_invalid(rt):
    """Bytes with a component header that do not validate are InvalidWasm."""
    with pytest.raises(InvalidWasm):
        rt.load(GREETER[:200])


def test_artifact_round_trip(rt):
    """An exported artifact restores a component that answers the same."""
    artifact = rt.export(rt.load(GREETER))
    decoded = decode_artifact(encode_artifact(artifact))
    assert decoded.analysis == artifact.analysis
    with Runtime() as other:
        program = other.restore(decoded)
        assert program.function("greet")("again") == ["Hello, again!"]
        assert program.analysis.component


def test_isolated_compiler_compiles_components():
    """The compile worker compiles components too, under the components' own caps."""
    config = RuntimeConfig()
    with IsolatedCompiler(
        config,
        cpu_seconds=1,
        memory_bytes=1 << 30,
        component_cpu_seconds=60,
        component_memory_bytes=2 << 30,
    ) as compiler:
        assert compiler.caps.of(GREETER) == (60, 2 << 30)
        artifact = compiler.compile(GREETER, digest="sha256:greeter")
    assert artifact.analysis.component
    with Runtime(config=config) as runtime:
        assert runtime.restore(artifact).function("count")(["x"]) == [1]


RUN_COMMAND = """
(component
  (core module $m (func (export "run") (result i32) i32.const 0))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $command (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $command))
  (instance $plain (export "run" (func $run)))
  (export "internals" (instance $plain))
)
"""


def test_interface_functions_are_named_by_interface(rt):
    """A function of an exported WIT interface is listed and called as
    ``interface#function``; a plain instance export is not listed."""
    program = rt.load(bytes(wasmtime.wat2wasm(RUN_COMMAND)))
    assert list(program.functions) == ["wasi:cli/run@0.2.0#run"]
    assert program.functions["wasi:cli/run@0.2.0#run"].wit == "func() -> result"
    assert program.function("wasi:cli/run@0.2.0#run")() == [{"ok": None}]
