"""The isolated compiler: real worker processes, real rlimits, the same errors as in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures import wasm
from tests.fixtures.generated import slow_to_compile
from wess.errors import CompileLimitExceeded, InvalidWasm, UnknownImport
from wess.models import digest_of
from wess.runtime import Runtime, RuntimeConfig
from wess.runtime.artifact import Artifact
from wess.runtime.isolated import IsolatedCompiler

MIB = 1 << 20


@pytest.fixture
def compiler() -> Iterator[IsolatedCompiler]:
    with IsolatedCompiler(RuntimeConfig(), cpu_seconds=30, memory_bytes=1 << 30) as started:
        yield started


def compile_(compiler: IsolatedCompiler, module: bytes) -> Artifact:
    return compiler.compile(module, digest=digest_of(module))


def test_artifact_from_a_worker_runs_in_the_server_runtime(compiler: IsolatedCompiler) -> None:
    """A worker's artifact restores in a Runtime of the same config and runs."""
    artifact = compile_(compiler, wasm("sum"))
    with Runtime(config=compiler.config) as runtime:
        program = runtime.restore(artifact)
        assert program.function("sum")(2, 3) == [5]
        assert [f.name for f in program.analysis.functions] == ["sum"]


def test_validation_errors_come_back_as_in_process(compiler: IsolatedCompiler) -> None:
    """Invalid wasm and unknown imports raise the same errors, with the same context,
    as an in-process compile; the worker keeps serving."""
    with Runtime() as runtime:
        for module, error in (
            (b"\x00asm\x01\x00\x00\x00\xff", InvalidWasm),
            (wasm("bad_import"), UnknownImport),
        ):
            with pytest.raises(error) as isolated:
                compile_(compiler, module)
            with pytest.raises(error) as local:
                runtime.load(module)
            assert isolated.value.detail == local.value.detail
            assert dict(isolated.value.context) == dict(local.value.context)
    assert compile_(compiler, wasm("counter")).digest == digest_of(wasm("counter"))
    assert compiler.replaced == 0


def test_cpu_cap_stops_the_compile_and_the_worker_is_replaced() -> None:
    """A module that needs more CPU than the cap is refused with CompileLimitExceeded
    naming the CPU cap; a fresh worker compiles the next module."""
    with IsolatedCompiler(RuntimeConfig(), cpu_seconds=1, memory_bytes=1 << 30) as compiler:
        with pytest.raises(CompileLimitExceeded) as caught:
            compile_(compiler, slow_to_compile())
        assert caught.value.context["resource"] == "cpu_seconds"
        assert caught.value.context["limit"] == 1
        assert compiler.replaced == 1
        assert compile_(compiler, wasm("sum")).digest == digest_of(wasm("sum"))


def test_memory_cap_stops_the_compile_and_the_worker_is_replaced() -> None:
    """A module whose compile needs more memory than the cap is refused with
    CompileLimitExceeded naming the memory cap; small modules still compile after."""
    with IsolatedCompiler(RuntimeConfig(), cpu_seconds=60, memory_bytes=32 * MIB) as compiler:
        assert compile_(compiler, wasm("sum")).digest == digest_of(wasm("sum"))
        with pytest.raises(CompileLimitExceeded) as caught:
            compile_(compiler, slow_to_compile())
        assert caught.value.context["resource"] == "memory"
        assert compiler.replaced == 1
        assert compile_(compiler, wasm("numbers")).digest == digest_of(wasm("numbers"))


def test_closed_compiler_refuses_work() -> None:
    """After close, compile raises instead of waiting for a worker forever."""
    compiler = IsolatedCompiler(RuntimeConfig(), cpu_seconds=5, memory_bytes=1 << 30)
    compiler.start()
    compiler.close()
    with pytest.raises(RuntimeError, match="closed"):
        compile_(compiler, wasm("sum"))
