"""WASI preview 1 ``fd_read`` and ``fd_write`` for the standard streams, served from the
running call's ``GuestIO`` (why: see ``guestio``).

``fd_read`` reads fd 0 (stdin) only, ``fd_write`` writes fds 1 and 2 (stdout, stderr)
only; a guest has no other descriptor (no preopened directories), so any other fd is
``EBADF``. An iovec outside the guest's memory is ``EFAULT``. Both follow the
preview 1 ABI: ``(fd, iovs, iovs_len, nresult) -> errno``, an iovec being a
little-endian (u32 pointer, u32 length) pair.

They are defined through wasmtime's C API as *unchecked* host functions
(``wasmtime_linker_define_func_unchecked``): wasmtime-py's own host-function
trampoline wraps every argument in a ``Val`` and the caller in an object, which cost
four times the work these functions do (bench P10). Here the arguments are read from
the raw value array, the caller's memory is found with ``wasmtime_caller_export_get``,
and the result is written back in place. A ctypes callback must never raise: every
failure is an errno.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from wess.runtime.guestio import CallSlot, GuestIO

ERRNO_SUCCESS, ERRNO_BADF, ERRNO_FAULT = 0, 8, 21
STDIN, STDOUT, STDERR = 0, 1, 2
MEMORY_EXPORT = b"memory"
ADDRESS_MASK = 0xFFFF_FFFF
IOVEC = struct.Struct("<II")
U32 = struct.Struct("<I")
MAX_IOVECS = 1024
"""IOV_MAX: a guest's iovec array is read at most this long."""
EXTERN_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value


class _MemoryApi:
    """The four C functions that find a caller's memory, on a private ``PyDLL`` handle
    (they are short: keeping the GIL is cheaper than dropping and retaking it), with
    return types only, as ``capi`` does: every argument is a ctypes object."""

    def __init__(self) -> None:
        quick = ctypes.PyDLL(ffi.dll._name)
        self.export_get = quick.wasmtime_caller_export_get
        self.export_get.restype = ctypes.c_bool
        self.context = quick.wasmtime_caller_context
        self.context.restype = ctypes.c_void_p
        self.data = quick.wasmtime_memory_data
        self.data.restype = ctypes.c_void_p
        self.data_size = quick.wasmtime_memory_data_size
        self.data_size.restype = ctypes.c_size_t


class _Memory:
    """A thread's cell for the caller's memory export, and the lookup that fills it:
    the memory's base address and size in bytes, or None."""

    __slots__ = ("_api", "_extern", "_memory", "_name", "_name_size")

    def __init__(self, api: _MemoryApi) -> None:
        self._api = api
        extern = ffi.wasmtime_extern_t()
        self._extern = extern
        self._memory = ctypes.byref(extern.of.memory)
        self._name = ctypes.c_char_p(MEMORY_EXPORT)
        self._name_size = ctypes.c_size_t(len(MEMORY_EXPORT))

    def find(self, caller: Any) -> tuple[int, int] | None:
        api = self._api
        extern = self._extern
        if not api.export_get(caller, self._name, self._name_size, ctypes.byref(extern)):
            return None
        if int(extern.kind) != EXTERN_MEMORY:
            return None
        context = ctypes.c_void_p(api.context(caller))
        return api.data(context, self._memory) or 0, api.data_size(context, self._memory)


def _iovecs(base: int, size: int, iovs: int, count: int) -> list[tuple[int, int]] | None:
    """The (address, length) pairs of an iovec array; None if any falls outside memory."""
    iovs &= ADDRESS_MASK
    count = min(count & ADDRESS_MASK, MAX_IOVECS)
    if iovs + IOVEC.size * count > size:
        return None
    pairs = list(IOVEC.iter_unpack(ctypes.string_at(base + iovs, IOVEC.size * count)))
    if any(address + length > size for address, length in pairs):
        return None
    return pairs


def _store_u32(base: int, size: int, address: int, value: int) -> int:
    address &= ADDRESS_MASK
    if address + U32.size > size:
        return ERRNO_FAULT
    ctypes.memmove(base + address, U32.pack(value), U32.size)
    return ERRNO_SUCCESS


def read_stdin(
    io: GuestIO | None, base: int, size: int, fd: int, iovs: int, count: int, nread: int
) -> int:
    """``fd_read`` on memory at ``base`` of ``size`` bytes: the errno."""
    if fd != STDIN:
        return ERRNO_BADF
    pairs = _iovecs(base, size, iovs, count)
    if pairs is None:
        return ERRNO_FAULT
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


def write_output(
    io: GuestIO | None, base: int, size: int, fd: int, iovs: int, count: int, nwritten: int
) -> int:
    """``fd_write`` on memory at ``base`` of ``size`` bytes: the errno."""
    if fd != STDOUT and fd != STDERR:
        return ERRNO_BADF
    pairs = _iovecs(base, size, iovs, count)
    if pairs is None:
        return ERRNO_FAULT
    data = b"".join(ctypes.string_at(base + a, n) for a, n in pairs if n)
    if io is not None:
        if fd == STDOUT:
            io.output.write_stdout(data)
        else:
            io.output.write_stderr(data)
    return _store_u32(base, size, nwritten, len(data))


Operation = Callable[[GuestIO | None, int, int, int, int, int, int], int]


class StdioFunctions:
    """``fd_read`` and ``fd_write`` defined in a linker as unchecked host functions.

    Holds the ctypes callbacks, which must live as long as the linker: keep this
    object beside it."""

    def __init__(self, calls: CallSlot) -> None:
        self._calls = calls
        self._memory = _MemoryCells()
        self.callbacks = {
            "fd_read": ffi.wasmtime_func_unchecked_callback_t(self._bind(read_stdin)),
            "fd_write": ffi.wasmtime_func_unchecked_callback_t(self._bind(write_output)),
        }
        self._finalizer = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(0)

    def _bind(self, operation: Operation) -> Callable[[int, Any, Any, int], int]:
        calls = self._calls
        cells = self._memory

        def callback(_env: int, caller: Any, raw: Any, _count: int) -> int:
            # ``caller`` and ``raw`` arrive typed (``wasmtime_func_unchecked_callback_t``)
            try:
                memory = cells.get().find(caller)
                if memory is None:
                    raw[0].i32 = ERRNO_FAULT
                    return 0
                base, size = memory
                raw[0].i32 = operation(
                    calls.current,
                    base,
                    size,
                    raw[0].i32,
                    raw[1].i32,
                    raw[2].i32,
                    raw[3].i32,
                )
            except Exception:  # never raise into wasmtime
                raw[0].i32 = ERRNO_FAULT
            return 0

        return callback

    def define(self, linker: wasmtime.Linker, module: str) -> None:
        i32 = wasmtime.ValType.i32()
        functype = wasmtime.FuncType([i32] * 4, [i32])
        encoded = module.encode()
        for name, callback in self.callbacks.items():
            error = ffi.wasmtime_linker_define_func_unchecked(
                linker.ptr(),
                encoded,
                len(encoded),
                name.encode(),
                len(name),
                functype.ptr(),
                callback,
                None,
                self._finalizer,
            )
            if error:
                raise wasmtime.WasmtimeError._from_ptr(error)


class _MemoryCells:
    """A ``_Memory`` per thread: its extern cell is written by the C call."""

    def __init__(self) -> None:
        self._api = _MemoryApi()
        self._local = threading.local()

    def get(self) -> _Memory:
        try:
            memory: _Memory = self._local.memory
        except AttributeError:
            memory = self._local.memory = _Memory(self._api)
        return memory
