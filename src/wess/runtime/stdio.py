"""WASI preview 1 ``fd_read`` and ``fd_write`` for the standard streams, served from the
running call's ``GuestIO`` (why: see ``guestio``).

``fd_read`` reads fd 0 (stdin) only, ``fd_write`` writes fds 1 and 2 (stdout, stderr)
only; a guest has no other descriptor (no preopened directories), so any other fd is
``EBADF``. An iovec outside the guest's memory is ``EFAULT``. Both follow the
preview 1 ABI: ``(fd, iovs, iovs_len, nresult) -> errno``, an iovec being a
little-endian (u32 pointer, u32 length) pair.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable

import wasmtime

from wess.runtime.guestio import CallSlot

ERRNO_SUCCESS, ERRNO_BADF, ERRNO_FAULT = 0, 8, 21
STDIN, STDOUT, STDERR = 0, 1, 2
MEMORY_EXPORT = "memory"
ADDRESS_MASK = 0xFFFF_FFFF
IOVEC = struct.Struct("<II")
U32 = struct.Struct("<I")
MAX_IOVECS = 1024
"""IOV_MAX: a guest's iovec array is read at most this long."""

HostFd = Callable[[wasmtime.Caller, int, int, int, int], int]


def _memory(caller: wasmtime.Caller) -> tuple[int, int] | None:
    """The caller's memory as (base address, size in bytes)."""
    memory = caller.get(MEMORY_EXPORT)
    if not isinstance(memory, wasmtime.Memory):
        return None
    return ctypes.addressof(memory.data_ptr(caller).contents), memory.data_len(caller)


def _iovecs(base: int, size: int, iovs: int, count: int) -> list[tuple[int, int]] | None:
    """The (address, length) pairs of an iovec array; None if any falls outside memory."""
    iovs &= ADDRESS_MASK
    count = min(count & ADDRESS_MASK, MAX_IOVECS)
    if iovs + IOVEC.size * count > size:
        return None
    raw = ctypes.string_at(base + iovs, IOVEC.size * count)
    pairs = list(IOVEC.iter_unpack(raw))
    if any(address + length > size for address, length in pairs):
        return None
    return pairs


def _store_u32(base: int, size: int, address: int, value: int) -> int:
    address &= ADDRESS_MASK
    if address + U32.size > size:
        return ERRNO_FAULT
    ctypes.memmove(base + address, U32.pack(value), U32.size)
    return ERRNO_SUCCESS


def fd_read(calls: CallSlot) -> HostFd:
    """``fd_read`` reading the running call's stdin (EOF when it has none)."""

    def read(caller: wasmtime.Caller, fd: int, iovs: int, count: int, nread: int) -> int:
        if fd != STDIN:
            return ERRNO_BADF
        try:
            memory = _memory(caller)
            if memory is None:
                return ERRNO_FAULT
            base, size = memory
            pairs = _iovecs(base, size, iovs, count)
            if pairs is None:
                return ERRNO_FAULT
            io = calls.current
            total = 0
            for address, length in pairs:
                chunk = io.read(length) if io is not None else b""
                if not chunk:
                    break
                ctypes.memmove(base + address, chunk, len(chunk))
                total += len(chunk)
                if len(chunk) < length:
                    break
            return _store_u32(base, size, nread, total)
        except Exception:  # never raise into wasmtime (see host.build_linker)
            return ERRNO_FAULT

    return read


def fd_write(calls: CallSlot) -> HostFd:
    """``fd_write`` into the running call's bounded stdout and stderr."""

    def write(caller: wasmtime.Caller, fd: int, iovs: int, count: int, nwritten: int) -> int:
        if fd != STDOUT and fd != STDERR:
            return ERRNO_BADF
        try:
            memory = _memory(caller)
            if memory is None:
                return ERRNO_FAULT
            base, size = memory
            pairs = _iovecs(base, size, iovs, count)
            if pairs is None:
                return ERRNO_FAULT
            data = b"".join(ctypes.string_at(base + a, n) for a, n in pairs if n)
            io = calls.current
            if io is not None:
                if fd == STDOUT:
                    io.output.write_stdout(data)
                else:
                    io.output.write_stderr(data)
            return _store_u32(base, size, nwritten, len(data))
        except Exception:  # never raise into wasmtime (see host.build_linker)
            return ERRNO_FAULT

    return write
