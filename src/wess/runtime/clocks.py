"""The clocks a guest can read, coarsened: WASI preview 1 ``clock_time_get`` and
``clock_res_get``.

WASI as wasmtime provides it gives a guest the host's time to the nanosecond, and a
guest that can time its own memory accesses and branches that finely has the raw
material of cache-timing and speculative-execution side channels against whatever
else the host runs. wasmtime-py offers no way to replace WASI's clocks, so Wess
shadows those two functions in its linker with its own (``build_linker``):

- the realtime clock (Unix time) and the monotonic clock (time since the Runtime was
  built, so a guest learns nothing of the host's uptime) are rounded down to a
  multiple of ``resolution_ns``, and ``clock_res_get`` reports that resolution;
- the CPU-time clocks (process and thread) answer ``EINVAL``: a guest timing its
  own CPU use is what the coarsening is there to blunt.

Coarsening blunts rather than closes a channel: a guest can still repeat a
measurement many times and watch for a tick's edge. What makes it worth having is
that a guest has no other timer: threads (a counting thread over shared memory) are
off in the engine, ``poll_oneoff`` answers ``ENOSYS`` and fuel is deterministic.

Host functions must never raise (see ``host.build_linker``): every failure is an
errno, ``EFAULT`` for a pointer outside the guest's memory.
"""

from __future__ import annotations

import ctypes
import struct
import time
from collections.abc import Callable

import wasmtime

REALTIME, MONOTONIC = 0, 1
"""WASI preview 1 clock ids Wess answers; 2 and 3 are the CPU-time clocks."""
ERRNO_SUCCESS, ERRNO_FAULT, ERRNO_INVAL = 0, 21, 28
MEMORY_EXPORT = "memory"
"""WASI reads and writes the guest memory exported under this name."""
NANOS_PER_MS = 1_000_000
DEFAULT_RESOLUTION_NS = NANOS_PER_MS
ADDRESS_MASK = 0xFFFF_FFFF
U64 = struct.Struct("<Q")


class GuestClock:
    """The time a guest may read, rounded down to ``resolution_ns``.

    ``wall`` and ``monotonic`` are the host's sources in nanoseconds (injectable, so
    the rounding is tested on chosen instants); the monotonic clock starts at zero when
    the ``GuestClock`` is made.
    """

    __slots__ = ("_monotonic", "_origin", "_wall", "resolution_ns")

    def __init__(
        self,
        resolution_ns: int = DEFAULT_RESOLUTION_NS,
        *,
        wall: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if resolution_ns < 1:
            raise ValueError("the clock resolution must be at least 1 ns")
        self.resolution_ns = resolution_ns
        self._wall = wall
        self._monotonic = monotonic
        self._origin = monotonic()

    def read(self, clock_id: int) -> int | None:
        """Nanoseconds on clock ``clock_id``, a multiple of the resolution; None for a
        clock a guest may not read."""
        if clock_id == REALTIME:
            now = self._wall()
        elif clock_id == MONOTONIC:
            now = self._monotonic() - self._origin
        else:
            return None
        return now - now % self.resolution_ns

    def resolution(self, clock_id: int) -> int | None:
        """The resolution of clock ``clock_id`` in nanoseconds; None as ``read``."""
        return self.resolution_ns if clock_id in (REALTIME, MONOTONIC) else None

    # -- the host functions: (caller, wasm arguments) -> errno ------------------------------

    def clock_time_get(
        self, caller: wasmtime.Caller, clock_id: int, _precision: int, time_ptr: int
    ) -> int:
        """``clock_time_get(id: i32, precision: i64, time: i32) -> errno``; the
        precision a guest asks for cannot refine the resolution."""
        return _answer(caller, self.read(clock_id), time_ptr)

    def clock_res_get(self, caller: wasmtime.Caller, clock_id: int, res_ptr: int) -> int:
        """``clock_res_get(id: i32, resolution: i32) -> errno``."""
        return _answer(caller, self.resolution(clock_id), res_ptr)


def _answer(caller: wasmtime.Caller, value: int | None, address: int) -> int:
    if value is None:
        return ERRNO_INVAL
    try:
        return _store_u64(caller, address & ADDRESS_MASK, value)
    except Exception:  # never raise into wasmtime (see host.build_linker)
        return ERRNO_FAULT


def _store_u64(caller: wasmtime.Caller, address: int, value: int) -> int:
    """Write ``value`` as a little-endian u64 at ``address`` of the caller's memory."""
    memory = caller.get(MEMORY_EXPORT)
    if not isinstance(memory, wasmtime.Memory) or address + U64.size > memory.data_len(caller):
        return ERRNO_FAULT
    base = ctypes.addressof(memory.data_ptr(caller).contents)
    ctypes.memmove(base + address, U64.pack(value), U64.size)
    return ERRNO_SUCCESS
