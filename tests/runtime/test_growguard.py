"""The grow guard: memory.grow is observed, and nothing else about a module changes."""

from __future__ import annotations

from typing import Any

import pytest
import wasmtime

from tests.fixtures import wasm
from wess.runtime.engine import RuntimeConfig, build_engine
from wess.runtime.growguard import GUARD_EXPORT, PAGE, guard, refused_beyond
from wess.runtime.layout import read_layout
from wess.runtime.wasmbin import Unsupported, read_uleb, scan, skip_valtype, uleb

KITCHEN_SINK_CALLS: list[tuple[Any, ...]] = [
    ("control", 0),
    ("control", 1),
    ("control", 5),
    ("select_typed", 0),
    ("select_typed", 1),
    ("indirect", 0),
    ("indirect", 1),
    ("tail", 3),
    ("memory_ops", 7),
    ("convert", 2.5),
    ("simd", 1),
    ("refs", 3),
    ("refs", 4),
    ("catch", 42),
    ("gc", 1),
    ("global",),
    ("grow", 2),
    ("grow", -1),
    ("grow_then_size", 3),
    ("grow", 1000),
]


def run_all(binary: bytes, memory_limit: int = 1 << 30) -> list[object]:
    engine = build_engine(RuntimeConfig())
    store = wasmtime.Store(engine)
    store.set_fuel(10**9)
    store.set_epoch_deadline(10**6)
    store.set_limits(memory_size=memory_limit)
    exports = wasmtime.Instance(store, wasmtime.Module(engine, binary), []).exports(store)
    results: list[object] = []
    for name, *args in KITCHEN_SINK_CALLS:
        try:
            results.append(exports[name](store, *args))
        except wasmtime.Trap as exc:
            results.append(exc.trap_code)
    return results


def guarded(binary: bytes) -> bytes:
    result = guard(binary, read_layout(binary))
    assert result.guarded
    return result.wasm


def test_guarded_module_behaves_the_same() -> None:
    """Across control flow, tables, SIMD, GC, exceptions, bulk memory and immediates
    full of 0x40 bytes, the guarded module computes exactly what the original does."""
    original = wasm("kitchen_sink")
    assert run_all(guarded(original)) == run_all(original)
    assert run_all(guarded(original), memory_limit=4 * PAGE) == run_all(
        original, memory_limit=4 * PAGE
    )


def test_only_memory_grow_is_patched() -> None:
    """The scanner finds exactly the memory.grow instructions, none inside immediates."""
    binary = wasm("kitchen_sink")
    layout = read_layout(binary)
    code = layout.section(10)
    assert code is not None
    grows = []
    count, pos = read_uleb(binary, code.payload)
    for _ in range(count):
        size, start = read_uleb(binary, pos)
        body = start
        groups, body = read_uleb(binary, body)
        for _ in range(groups):
            _, body = read_uleb(binary, body)
            body = skip_valtype(binary, body)
        grows += scan(binary, body, start + size)[1]
        pos = start + size
    assert len(grows) == 2
    assert binary.count(b"\x40") > 10  # plenty of decoys


def test_refused_grow_is_recorded() -> None:
    """After a refused grow the exported global holds the size asked for, in pages."""
    engine = build_engine(RuntimeConfig())
    store = wasmtime.Store(engine)
    store.set_fuel(10**6)
    store.set_epoch_deadline(10**6)
    store.set_limits(memory_size=2 * PAGE)
    module = wasmtime.Module(engine, guarded(wasm("traps")))
    exports = wasmtime.Instance(store, module, []).exports(store)
    recorded = exports[GUARD_EXPORT]
    assert isinstance(recorded, wasmtime.Global)
    assert exports["grow"](store, 1) == 2
    assert recorded.value(store) == 0
    with pytest.raises(wasmtime.Trap):
        exports["grow"](store, 40)
    assert recorded.value(store) == 42


def test_refusal_within_the_limit_is_not_blamed_on_the_limit() -> None:
    """A size within max_memory was refused by the module's own maximum, not by Wess."""
    assert refused_beyond(5, 4 * PAGE)
    assert not refused_beyond(4, 4 * PAGE)


def test_modules_without_grow_are_left_alone() -> None:
    """A module with no memory.grow is returned byte for byte."""
    for name in ("sum", "numbers", "hello_wasi", "indirect"):
        binary = wasm(name)
        result = guard(binary, read_layout(binary))
        assert not result.guarded
        assert result.wasm is binary


def test_missing_sections_are_added_in_order() -> None:
    """A module with memory.grow but no global or export section gets both, in the
    order the binary format requires, and validates."""
    binary = bytes(
        wasmtime.wat2wasm(
            "(module (memory 1) (func $f (result i32) i32.const 1 memory.grow) (start 1)"
            " (func (drop (call $f))))"
        )
    )
    patched = guarded(binary)
    wasmtime.Module.validate(build_engine(RuntimeConfig()), patched)
    assert any(name == GUARD_EXPORT for name, _, _ in read_layout(patched).exports)


def test_memory64_grow_is_guarded() -> None:
    """A 64-bit memory gets an i64 helper and still records refusals."""
    binary = bytes(
        wasmtime.wat2wasm(
            '(module (memory i64 1) (func (export "g") (param i64) (result i64)'
            " local.get 0 memory.grow))"
        )
    )
    engine = build_engine(RuntimeConfig())
    store = wasmtime.Store(engine)
    store.set_fuel(10**6)
    store.set_epoch_deadline(10**6)
    store.set_limits(memory_size=2 * PAGE)
    exports = wasmtime.Instance(store, wasmtime.Module(engine, guarded(binary)), []).exports(store)
    assert exports["g"](store, 1) == 1
    assert exports["g"](store, 7) == -1
    recorded = exports[GUARD_EXPORT]
    assert isinstance(recorded, wasmtime.Global)
    assert recorded.value(store) == 9


def test_unknown_opcodes_are_unsupported() -> None:
    """Bytes the scanner does not know raise Unsupported rather than being guessed at."""
    with pytest.raises(Unsupported):
        scan(b"\xff\x0b", 0, 2)
    with pytest.raises(Unsupported):
        scan(b"\xfc" + uleb(99) + b"\x0b", 0, 3)


def test_export_name_clash_leaves_the_module_alone() -> None:
    """A module that already exports the guard's name is not patched."""
    binary = bytes(
        wasmtime.wat2wasm(
            f'(module (memory 1) (global (export "{GUARD_EXPORT}") i32 (i32.const 0))'
            ' (func (export "g") (result i32) i32.const 1 memory.grow))'
        )
    )
    assert not guard(binary, read_layout(binary)).guarded
