"""What the host gives a guest: WASI preview 1, ``env.randomi32``, captured output.

WASI runs with no preopened directories, no environment, no arguments and an empty
stdin; stdout and stderr go to an ``OutputCapture`` per invocation. Three overrides:
``poll_oneoff`` answers ENOSYS, because a guest sleeping in it blocks its thread in
the host where epoch interruption cannot reach it, which would let it outlive its
wall-clock limit; ``clock_time_get`` and ``clock_res_get`` answer a coarsened time
(``clocks.GuestClock``), to blunt timing side channels.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import wasmtime

from wess.runtime.clocks import GuestClock
from wess.runtime.kv import KvSlot, define_kv

WASI_MODULE = "wasi_snapshot_preview1"
ERRNO_NOSYS = 52


def random_i32() -> int:
    """A uniformly random signed 32-bit integer from the OS's CSPRNG."""
    return int.from_bytes(os.urandom(4), "little", signed=True)


def as_i32(source: Callable[[], int]) -> Callable[[], int]:
    """``source`` wrapped to answer a signed i32 whatever integer it returns."""

    def randomi32() -> int:
        value = int(source()) & 0xFFFF_FFFF
        return value - (1 << 32) if value >= (1 << 31) else value

    return randomi32


def _poll_oneoff_unsupported(_in: int, _out: int, _count: int, _events: int) -> int:
    return ERRNO_NOSYS


def build_linker(
    engine: wasmtime.Engine,
    *,
    random: Callable[[], int] = random_i32,
    clock: GuestClock | None = None,
    kv: KvSlot | None = None,
) -> wasmtime.Linker:
    """The one Linker of a Runtime; Store-independent, so shared by every call.

    Host functions must never raise: wasmtime-py parks a host exception in a
    process-wide slot that whichever thread calls wasm next would pick up. ``random``
    must not raise either; any integer it returns is reduced to an i32. ``clock`` is
    the time guests read (default: a ``GuestClock`` of its default resolution).
    """
    clock = clock if clock is not None else GuestClock()
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    linker.allow_shadowing = True
    linker.define_func(
        WASI_MODULE, "poll_oneoff", wasmtime.FuncType([i32] * 4, [i32]), _poll_oneoff_unsupported
    )
    linker.define_func(
        WASI_MODULE,
        "clock_time_get",
        wasmtime.FuncType([i32, i64, i32], [i32]),
        clock.clock_time_get,
        access_caller=True,
    )
    linker.define_func(
        WASI_MODULE,
        "clock_res_get",
        wasmtime.FuncType([i32, i32], [i32]),
        clock.clock_res_get,
        access_caller=True,
    )
    linker.allow_shadowing = False
    linker.define_func("env", "randomi32", wasmtime.FuncType([], [i32]), as_i32(random))
    define_kv(linker, kv if kv is not None else KvSlot())  # wess:kv@1 (runtime/kv.py)
    return linker


class OutputCapture:
    """The stdout and stderr of one invocation, each kept up to ``limit`` bytes.

    Past the limit output is dropped and ``truncated`` set; the guest is told every
    byte was written so it does not retry.
    """

    __slots__ = ("_stderr", "_stdout", "limit", "truncated")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._stdout = bytearray()
        self._stderr = bytearray()
        self.truncated = False

    @property
    def stdout(self) -> bytes:
        return bytes(self._stdout)

    @property
    def stderr(self) -> bytes:
        return bytes(self._stderr)

    def write_stdout(self, data: bytes) -> int:
        return self._append(self._stdout, data)

    def write_stderr(self, data: bytes) -> int:
        return self._append(self._stderr, data)

    def _append(self, buffer: bytearray, data: bytes) -> int:
        size = len(data)
        room = self.limit - len(buffer)
        if size > room:
            self.truncated = True
            data = data[: max(room, 0)]
        buffer += data
        return size

    def wasi_config(self) -> wasmtime.WasiConfig:
        """A WASI context writing into this capture, with nothing else granted."""
        config = wasmtime.WasiConfig()
        config.stdout_custom = self.write_stdout
        config.stderr_custom = self.write_stderr
        return config
