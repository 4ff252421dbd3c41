"""Compiled modules in memory: what the cache counts for them, and that they let go of it."""

from __future__ import annotations

import gc
import mmap
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import wasmtime

from tests.fixtures import wasm
from wess.models import digest_of
from wess.runtime import Program, Runtime, RuntimeConfig
from wess.runtime.compiling import FUNCTION_OVERHEAD
from wess.testing import RecordingObserver


def constant(c: int) -> bytes:
    """``sum(a, b) + c``: modules of one shape and size, with distinct digests."""
    return bytes(
        wasmtime.wat2wasm(
            '(module (func (export "sum") (param i32 i32) (result i32)'
            f" local.get 0 local.get 1 i32.add i32.const {c} i32.add))"
        )
    )


@contextmanager
def without_cyclic_collector() -> Iterator[None]:
    """What is freed inside is freed by reference counting alone: no cycle holds it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def references(program: Program) -> list[weakref.ref[object]]:
    """Weak references to the program and to the wasmtime objects behind it."""
    compiled = program.compiled
    return [weakref.ref(program), weakref.ref(compiled.pre), weakref.ref(compiled.module)]


def counted(observer: RecordingObserver) -> int:
    """The bytes the cache last reported."""
    return observer.sizes[-1][0]


@pytest.mark.parametrize(
    ("name", "function", "args"), [("sum", "sum", (1, 2)), ("hello_wasi", "hello", ())]
)
def test_an_evicted_program_is_freed(
    runtime: Runtime, name: str, function: str, args: tuple[int, ...]
) -> None:
    """Once evicted and let go, a program that has been called is freed at once, with
    its InstancePre and module (and so their native memory), on either call path."""
    with without_cyclic_collector():
        program = runtime.load(wasm(name))
        program.function(function)(*args)
        held = references(program)
        digest = program.digest
        del program
        assert all(ref() is not None for ref in held)  # the cache keeps it
        assert runtime.evict(digest)
        assert [ref() for ref in held] == [None, None, None]


def test_programs_pushed_out_of_the_budget_are_freed(observer: RecordingObserver) -> None:
    """A program the cache drops to stay within its byte budget is freed as well."""
    with Runtime(observer=observer) as probe:
        probe.load(constant(0)).function("sum")(1, 1)
        size = counted(observer)
    with (
        Runtime(observer=observer, config=RuntimeConfig(cache_bytes=size)) as rt,
        without_cyclic_collector(),
    ):
        first = rt.load(constant(1))
        first.function("sum")(1, 1)
        held = references(first)
        del first
        rt.load(constant(2)).function("sum")(1, 1)
        assert observer.evictions == [digest_of(constant(1))]
        assert [ref() for ref in held] == [None, None, None]
        assert counted(observer) == size


def test_compile_leaves_the_cache_alone(observer: RecordingObserver) -> None:
    """``compile`` gives a working program the cache does not keep or count: no lookup
    is counted, its functions add nothing, and a later load compiles again."""
    with Runtime(observer=observer) as rt:
        program = rt.compile(wasm("sum"))
        assert program.function("sum")(2, 3) == [5]
        assert not rt.holds(program.digest)
        assert (observer.misses, observer.hits, observer.sizes) == (0, 0, [])
        assert rt.load(wasm("sum")) is not program
        assert len(observer.compiles) == 2


def test_the_cache_counts_the_code_image_and_each_function_made(
    observer: RecordingObserver,
) -> None:
    """A module counts its code image in whole pages plus its bookkeeping, not its wasm
    bytes (which it does not keep); each function adds its caller once, when first
    made, and only while its program is cached."""
    with Runtime(observer=observer) as rt:
        program = rt.load(wasm("kitchen_sink"))
        image = len(rt.export(program).image)
        loaded = counted(observer)
        assert loaded == program.compiled.size
        assert loaded >= -(-image // mmap.PAGESIZE) * mmap.PAGESIZE
        names = list(program.functions)
        program.function(names[0])
        program.function(names[0])
        assert counted(observer) == loaded + FUNCTION_OVERHEAD
        program.function(names[1])
        assert counted(observer) == loaded + 2 * FUNCTION_OVERHEAD
        rt.evict(program.digest)
        program.function(names[2])
        assert observer.sizes[-1] == (0, 0)


def test_a_restored_program_counts_as_much_as_the_compiled_one() -> None:
    """Compiled here or restored from its artifact, a module counts the same; the
    artifact still records the size of the wasm it came from."""
    with Runtime() as first:
        compiled = first.load(wasm("kitchen_sink"))
        artifact = first.export(compiled)
    assert artifact.wasm_size == len(wasm("kitchen_sink"))
    with Runtime() as second:
        assert second.restore(artifact).compiled.size == compiled.compiled.size
