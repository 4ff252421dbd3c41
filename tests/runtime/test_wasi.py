"""WASI preview 1: captured and bounded output, exit codes, an empty and closed world."""

from __future__ import annotations

import pytest

from tests.fixtures import wasm
from wess.errors import Trap
from wess.runtime import Limits, Runtime

STDOUT, STDERR = 1, 2
ERRNO_NOSYS = 52


def test_hello_stdout_is_captured(runtime: Runtime) -> None:
    """What a guest writes to stdout comes back in the Invocation, not on our stdout."""
    result = runtime.load(wasm("hello_wasi")).function("hello").invoke([])
    assert result.results == [0]
    assert result.stdout == b"hello\n"
    assert result.stderr == b""
    assert result.output_truncated is False


def test_stderr_is_captured_apart(runtime: Runtime) -> None:
    """stderr is captured separately from stdout."""
    result = runtime.load(wasm("wasi_io")).function("shout").invoke([STDERR, 2])
    assert result.stderr == b"0123456789abcdef" * 2
    assert result.stdout == b""


def test_output_is_bounded_and_truncation_marked(runtime: Runtime) -> None:
    """Past max_output bytes output is dropped and output_truncated says so; the guest
    is told its writes succeeded."""
    result = (
        runtime.load(wasm("wasi_io"))
        .function("shout")
        .invoke([STDOUT, 10], limits=Limits(max_output=40))
    )
    assert result.stdout == (b"0123456789abcdef" * 3)[:40]
    assert result.output_truncated is True
    assert result.results == [0]


def test_output_exactly_at_the_bound_is_not_truncated(runtime: Runtime) -> None:
    """Output that fits max_output exactly is complete and not marked."""
    result = (
        runtime.load(wasm("wasi_io"))
        .function("shout")
        .invoke([STDOUT, 2], limits=Limits(max_output=32))
    )
    assert len(result.stdout) == 32
    assert result.output_truncated is False


def test_each_call_captures_only_its_own_output(runtime: Runtime) -> None:
    """Output does not leak from one invocation into the next."""
    hello = runtime.load(wasm("hello_wasi")).function("hello")
    assert [hello.invoke([]).stdout for _ in range(3)] == [b"hello\n"] * 3


def test_proc_exit_is_a_trap_with_the_exit_code(runtime: Runtime) -> None:
    """proc_exit raises Trap(kind="exit") carrying the code and what was written."""
    with pytest.raises(Trap) as caught:
        runtime.load(wasm("wasi_io")).function("quit").invoke([3])
    assert caught.value.kind == "exit"
    assert caught.value.context["exit_code"] == 3
    assert caught.value.context["stdout"] == "0123"
    assert caught.value.detail == "quit exited with status 3"


def test_stdin_is_empty(runtime: Runtime) -> None:
    """Reading stdin gets end of file at once, never the host's stdin."""
    assert runtime.load(wasm("wasi_io")).function("read_stdin")() == [0]


def test_sleeping_is_refused(runtime: Runtime) -> None:
    """poll_oneoff answers ENOSYS: a guest cannot sleep in the host beyond its timeout."""
    assert runtime.load(wasm("wasi_io")).function("sleep").invoke(
        [], limits=Limits(timeout_ms=50)
    ).results == [ERRNO_NOSYS]
