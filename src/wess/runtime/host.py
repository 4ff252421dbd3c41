"""What the host gives a guest: WASI preview 1, ``env.randomi32``, the host API.

WASI runs with no preopened directories; a command's arguments and environment are
the ones its request passed (none otherwise). Five overrides of wasmtime's WASI:
``fd_read`` and ``fd_write`` read stdin from and write stdout and stderr into the
running call's ``GuestIO`` (``stdio``, and why in ``guestio``);
``poll_oneoff`` answers ENOSYS, because a guest sleeping in it blocks its thread in
the host where epoch interruption cannot reach it, which would let it outlive its
wall-clock limit; ``clock_time_get`` and ``clock_res_get`` answer a coarsened time
(``clocks.GuestClock``), to blunt timing side channels.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import wasmtime

from wess.runtime import hostapi, stdio
from wess.runtime.clocks import GuestClock
from wess.runtime.guestio import CallSlot
from wess.runtime.kv import KvSlot

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
    calls: CallSlot | None = None,
    kv: KvSlot | None = None,
) -> wasmtime.Linker:
    """The one Linker of a Runtime; Store-independent, so shared by every call.

    Host functions must never raise: wasmtime-py parks a host exception in a
    process-wide slot that whichever thread calls wasm next would pick up. ``random``
    must not raise either; any integer it returns is reduced to an i32. ``clock`` is
    the time guests read (default: a ``GuestClock`` of its default resolution);
    ``calls`` is where callers put each call's ``GuestIO``.
    """
    clock = clock if clock is not None else GuestClock()
    calls = calls if calls is not None else CallSlot()
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
    fd_type = wasmtime.FuncType([i32] * 4, [i32])
    linker.define_func(WASI_MODULE, "fd_read", fd_type, stdio.fd_read(calls), access_caller=True)
    linker.define_func(WASI_MODULE, "fd_write", fd_type, stdio.fd_write(calls), access_caller=True)
    linker.allow_shadowing = False
    linker.define_func("env", "randomi32", wasmtime.FuncType([], [i32]), as_i32(random))
    for interface in hostapi.interfaces(clock=clock, calls=calls, kv=kv):
        interface.define(linker)
    return linker
