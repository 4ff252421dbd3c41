"""WASI commands: stdin in, stdout and stderr out, argv, env and the exit status; and the
host API (wess:log@1, wess:clock@1)."""

from __future__ import annotations

import time

import pytest
import wasmtime

from tests.fixtures import wasm
from wess.errors import InvalidRequest, UnknownImport
from wess.runtime import Limits, Runtime
from wess.runtime.analysis import analyze_layout
from wess.runtime.command_io import CommandInput
from wess.runtime.guestio import LogBook
from wess.runtime.layout import read_layout


def test_stdin_is_echoed_and_argv_env_reach_the_guest(runtime: Runtime) -> None:
    """stdin reaches fd_read; argv and env are the ones given; _start returning is 0."""
    start = runtime.load(wasm("echo_command")).function("_start")
    result = start.run_command(
        CommandInput(stdin=b"line one\nline two\n", argv=("prog", "-v"), env=(("LANG", "C"),))
    )
    assert result.stdout == b"line one\nline two\n"
    assert result.stderr == b"prog\n-v\nLANG=C\n"
    assert result.exit_code == 0
    assert result.output().truncated is False


def test_large_stdin_is_read_whole(runtime: Runtime) -> None:
    """stdin longer than the guest's buffer is read over several fd_read calls."""
    payload = bytes(range(256)) * 100
    result = (
        runtime.load(wasm("echo_command"))
        .function("_start")
        .run_command(CommandInput(stdin=payload))
    )
    assert result.stdout == payload


def test_proc_exit_is_the_exit_code_not_an_error(runtime: Runtime) -> None:
    """A command leaving through proc_exit answers its status; its output is kept."""
    result = (
        runtime.load(wasm("echo_command"))
        .function("_start")
        .run_command(CommandInput(stdin=b"x", env=(("EXIT", "7"),)))
    )
    assert (result.exit_code, result.stdout) == (7, b"x")


def test_command_output_is_bounded_per_stream(runtime: Runtime) -> None:
    """Past max_output stdout is cut and marked; stderr, within it, is not."""
    result = (
        runtime.load(wasm("echo_command"))
        .function("_start")
        .run_command(CommandInput(stdin=b"a" * 100, argv=("p",)), limits=Limits(max_output=10))
    )
    assert result.stdout == b"a" * 10
    assert (result.stdout_truncated, result.stderr_truncated) == (True, False)
    assert result.output_truncated is True


def test_each_call_has_its_own_stdin(runtime: Runtime) -> None:
    """No stdin or output leaks between calls."""
    start = runtime.load(wasm("echo_command")).function("_start")
    outputs = [start.run_command(CommandInput(stdin=bytes([65 + i]))).stdout for i in range(3)]
    assert outputs == [b"A", b"B", b"C"]
    assert start.run_command().stdout == b""


def test_only_a_commands_entry_runs_as_a_command(runtime: Runtime) -> None:
    """run_command on an ordinary function is refused."""
    with pytest.raises(InvalidRequest, match="_start"):
        runtime.load(wasm("sum")).function("sum").run_command(CommandInput())


def test_commands_are_told_apart_at_analysis() -> None:
    """A module exporting _start() is a command; sum is not."""
    assert analyze_layout(read_layout(wasm("echo_command"))).is_command
    assert not analyze_layout(read_layout(wasm("sum"))).is_command


def test_log_lines_come_back_with_the_call(runtime: Runtime) -> None:
    """wess:log@1 lines are kept with their levels, decoded as UTF-8."""
    result = runtime.load(wasm("host_api")).function("work").invoke([2])
    assert result.results == [2]
    assert [(line.level, line.message) for line in result.logs] == [
        ("info", "starting"),
        ("warn", "done ✓"),
        ("warn", "done ✓"),
    ]
    assert result.logs_dropped == 0


def test_log_lines_are_bounded_and_counted(runtime: Runtime) -> None:
    """Past the bound on lines, lines are dropped and counted, never kept."""
    result = runtime.load(wasm("host_api")).function("work").invoke([150])
    assert len(result.logs) == LogBook().max_lines
    assert result.logs_dropped == 151 - LogBook().max_lines


def test_a_log_outside_memory_is_dropped_not_a_trap(runtime: Runtime) -> None:
    """A range past the guest's memory is dropped (counted); the call goes on."""
    result = runtime.load(wasm("host_api")).function("wild").invoke([])
    assert (result.results, result.logs, result.logs_dropped) == ([0], (), 1)


def test_log_book_bounds_bytes() -> None:
    """A line past the byte budget is dropped; smaller ones still fit."""
    book = LogBook(max_lines=10, max_bytes=8)
    book.add(1, b"12345")
    book.add(1, b"123456")
    book.add(9, b"123")
    assert [(line.level, line.message) for line in book.lines] == [
        ("info", "12345"),
        ("error", "123"),
    ]
    assert book.dropped == 1


def test_clock_reads_unix_milliseconds(runtime: Runtime) -> None:
    """wess:clock@1 now_ms is Unix time in ms (within the coarsened clock's reach)."""
    before = time.time_ns() // 1_000_000
    (now,) = runtime.load(wasm("host_api")).function("now")()
    after = time.time_ns() // 1_000_000
    assert isinstance(now, int)
    assert before - 1 <= now <= after


def test_a_host_function_of_the_wrong_type_is_refused(runtime: Runtime) -> None:
    """wess:log@1.log imported with another type is an unknown import, named."""
    bad = """(module (import "wess:log@1" "log" (func (param i32))))"""
    with pytest.raises(UnknownImport, match=r"wess:log@1\.log"):
        runtime.load(bytes(wasmtime.wat2wasm(bad)))
