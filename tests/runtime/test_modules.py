"""Loading modules: validation, imports, the catalogue, the compiled cache, the ticker."""

from __future__ import annotations

import threading

import pytest
import wasmtime

from tests.fixtures import wasm
from wess.errors import CompileLimitExceeded, InvalidWasm, UnknownImport
from wess.models import FunctionSignature, ValueType, digest_of
from wess.runtime import ModuleAnalysis, Runtime, RuntimeConfig
from wess.testing import RecordingObserver


def module(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def test_analyze_lists_functions_and_imports(runtime: Runtime) -> None:
    """analyze returns the callable functions in export order and every import."""
    analysis = runtime.analyze(wasm("hello_wasi"))
    assert analysis == ModuleAnalysis(
        functions=(FunctionSignature("hello", (), (ValueType.I32,)),),
        imports=("wasi_snapshot_preview1.fd_write",),
    )


def test_catalogue_leaves_out_non_number_functions(runtime: Runtime) -> None:
    """Exports with v128 or reference types are left out, without crashing the process."""
    analysis = runtime.analyze(
        module("""(module
        (func (export "a") (param v128) (result i32) i32.const 0)
        (func (export "b") (param i64 f32) (result f64 i32) f64.const 1 i32.const 2)
        (func (export "c") (param externref))
        (func (export "d") (result (ref null any)) ref.null any)
        (memory (export "mem") 1))""")
    )
    assert analysis.functions == (
        FunctionSignature("b", (ValueType.I64, ValueType.F32), (ValueType.F64, ValueType.I32)),
    )


def test_unknown_import_is_named(runtime: Runtime) -> None:
    """A module importing anything Wess does not provide is refused, naming the import
    and its type."""
    with pytest.raises(UnknownImport, match=r"host\.launch_missiles \(func \(param i32\)\)"):
        runtime.analyze(wasm("bad_import"))


@pytest.mark.parametrize(
    "text",
    [
        '(module (import "wasi_snapshot_preview1" "launch" (func)))',
        '(module (import "wasi_snapshot_preview1" "fd_write" (func)))',
        '(module (import "env" "randomi32" (func (result i64))))',
        '(module (import "env" "memory" (memory 1)))',
        '(module (import "wasi_snapshot_preview1" "g" (global i32)))',
    ],
)
def test_imports_beyond_what_is_provided(runtime: Runtime, text: str) -> None:
    """Unknown WASI names, wrong WASI or randomi32 types, and non-function imports are
    all UnknownImport."""
    with pytest.raises(UnknownImport):
        runtime.load(module(text))


def test_invalid_bytes(runtime: Runtime) -> None:
    """Bytes that are not WebAssembly raise InvalidWasm with wasmtime's reason."""
    with pytest.raises(InvalidWasm, match=r"invalid WebAssembly module: .+") as caught:
        runtime.load(b"\0asm\x01\0\0\0\xff")
    assert "section" in caught.value.context["reason"]
    with pytest.raises(InvalidWasm):
        runtime.load(b"definitely not wasm")


def test_invalid_code_is_invalid_wasm(runtime: Runtime) -> None:
    """A well-formed module whose code does not type-check is InvalidWasm too."""
    with pytest.raises(InvalidWasm, match="type mismatch"):
        runtime.load(module("(module (func (result i32)))"))


def test_threads_and_multiple_memories_are_refused(runtime: Runtime) -> None:
    """Shared memories and several memories are off: max_memory must bound them all."""
    with pytest.raises(InvalidWasm):
        runtime.load(module("(module (memory 1 1 shared))"))
    with pytest.raises(InvalidWasm):
        runtime.load(module("(module (memory 1) (memory 1))"))


def test_module_size_limit() -> None:
    """Modules beyond max_module_bytes are refused with CompileLimitExceeded."""
    with (
        Runtime(config=RuntimeConfig(max_module_bytes=16)) as rt,
        pytest.raises(CompileLimitExceeded, match="at most 16"),
    ):
        rt.load(wasm("sum"))


def test_loading_twice_compiles_once(observer: RecordingObserver) -> None:
    """Compiled modules are cached by digest: the second load is a hit, not a compile."""
    with Runtime(observer=observer) as rt:
        first = rt.load(wasm("sum"))
        second = rt.load(bytes(wasm("sum")))
        assert first is second
        assert observer.compiles == [digest_of(wasm("sum"))]
        assert (observer.misses, observer.hits) == (1, 1)
        assert rt.cached(digest_of(wasm("sum"))) is first


def test_concurrent_loads_compile_once(observer: RecordingObserver) -> None:
    """Threads loading the same new module at once share one compile."""
    with Runtime(observer=observer) as rt:
        barrier = threading.Barrier(8)
        programs = []

        def load() -> None:
            barrier.wait()
            programs.append(rt.load(wasm("kitchen_sink")))

        threads = [threading.Thread(target=load) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(observer.compiles) == 1
        assert all(p is programs[0] for p in programs)


def test_evict_forgets_a_digest(observer: RecordingObserver) -> None:
    """evict drops the compiled module; programs already held keep working."""
    with Runtime(observer=observer) as rt:
        program = rt.load(wasm("sum"))
        assert rt.evict(program.digest) is True
        assert rt.evict(program.digest) is False
        assert rt.cached(program.digest) is None
        assert program.function("sum")(2, 2) == [4]
        assert observer.evictions == [program.digest]
        rt.load(wasm("sum"))
        assert len(observer.compiles) == 2


def test_cache_stays_within_its_byte_budget(observer: RecordingObserver) -> None:
    """Past the byte budget the least recently used module leaves the cache."""
    with Runtime(observer=observer) as probe:
        size = probe.load(wasm("sum")).compiled.size
    with Runtime(observer=observer, config=RuntimeConfig(cache_bytes=size * 2)) as rt:
        for name in ("sum", "counter", "numbers", "random"):
            rt.load(wasm(name))
            total, _ = observer.sizes[-1]
            assert total <= size * 2
        assert observer.evictions


def test_cache_can_count_modules_instead_of_bytes(observer: RecordingObserver) -> None:
    """With cache_entries and no byte budget, the cache holds that many modules, however
    large; the least recently used one leaves first."""
    config = RuntimeConfig(cache_bytes=None, cache_entries=2)
    with Runtime(observer=observer, config=config) as rt:
        first = rt.load(wasm("sum")).digest
        second = rt.load(wasm("counter")).digest
        rt.load(wasm("sum"))
        rt.load(wasm("numbers"))
        assert observer.evictions == [second]
        assert [entries for _, entries in observer.sizes][-1] == 2
        assert rt.cached(first) is not None


def test_analysis_is_cached_with_the_program(observer: RecordingObserver) -> None:
    """analyze compiles and caches, so the first run after an upload compiles nothing."""
    with Runtime(observer=observer) as rt:
        rt.analyze(wasm("sum"))
        rt.load(wasm("sum"))
        assert len(observer.compiles) == 1


def test_close_stops_the_ticker() -> None:
    """The epoch ticker thread runs while the Runtime is open and stops on close."""
    rt = Runtime()
    assert rt.ticking
    rt.close()
    assert not rt.ticking
    assert rt.closed
    rt.close()  # idempotent


def test_context_manager_closes() -> None:
    """Leaving the with-block closes the Runtime and stops its ticker."""
    with Runtime() as rt:
        assert rt.ticking
    assert not rt.ticking
