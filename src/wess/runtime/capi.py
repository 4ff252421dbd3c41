"""The wasmtime C functions the fast call path uses, on Wess's own library handles.

Two private handles on wasmtime's library, never ``wasmtime._ffi.dll``: ctypes keeps
one function object per symbol and handle, so declaring types on those would change
them under wasmtime-py's own wrappers. A ``CDLL`` serves the two calls that run guest
code, which release the GIL so guests run in parallel; a ``PyDLL`` serves the short
bookkeeping calls, which keep it rather than drop and retake it seven times per call.

Only return types are declared. Every argument must be a ctypes object, bytes or
None: with no ``argtypes`` a Python int would be passed as a 32-bit C int.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import _ffi as ffi


class Handle(ctypes.c_void_p):
    """A returned pointer kept as a ctypes object, so it passes straight back in."""


class CApi:
    """The wasmtime C functions this path calls, on private handles."""

    def __init__(self) -> None:
        quick = ctypes.PyDLL(ffi.dll._name)
        guest = ctypes.CDLL(ffi.dll._name)

        def bind(library: ctypes.CDLL, name: str, restype: Any) -> Any:
            function = getattr(library, name)
            function.restype = restype
            return function

        self.instantiate = bind(guest, "wasmtime_instance_pre_instantiate", ctypes.c_void_p)
        self.call = bind(guest, "wasmtime_func_call", ctypes.c_void_p)
        self.store_new = bind(quick, "wasmtime_store_new", Handle)
        self.store_context = bind(quick, "wasmtime_store_context", Handle)
        self.store_limiter = bind(quick, "wasmtime_store_limiter", None)
        self.store_delete = bind(quick, "wasmtime_store_delete", None)
        self.set_fuel = bind(quick, "wasmtime_context_set_fuel", ctypes.c_void_p)
        self.get_fuel = bind(quick, "wasmtime_context_get_fuel", ctypes.c_void_p)
        self.set_epoch_deadline = bind(quick, "wasmtime_context_set_epoch_deadline", None)
        self.export_get = bind(quick, "wasmtime_instance_export_get", ctypes.c_bool)
        self.global_get = bind(quick, "wasmtime_global_get", None)
        self.trap_code = bind(quick, "wasmtime_trap_code", ctypes.c_bool)
        self.trap_message = bind(quick, "wasm_trap_message", None)
        self.trap_delete = bind(quick, "wasm_trap_delete", None)
        self.error_exit_status = bind(quick, "wasmtime_error_exit_status", ctypes.c_bool)
        self.error_message = bind(quick, "wasmtime_error_message", None)
        self.error_delete = bind(quick, "wasmtime_error_delete", None)
        self.byte_vec_delete = bind(quick, "wasm_byte_vec_delete", None)
        self.set_wasi = bind(quick, "wasmtime_context_set_wasi", ctypes.c_void_p)
        self.unlimited = ctypes.c_int64(-1)


def pointer_to(obj: Any) -> ctypes.c_void_p:
    """The pointer behind a wasmtime-py object, as a ctypes argument."""
    return ctypes.cast(obj, ctypes.c_void_p)


def address_of(pointer: Any) -> ctypes.c_void_p:
    """A copy of the ctypes ``pointer``'s value as a plain ``c_void_p``.

    For objects made per module: ``ctypes.cast`` files the source pointer in its own
    ``_objects``, a reference cycle that keeps it until the cyclic collector runs, and
    the copy holds no reference at all (keep the owner alive another way).
    """
    return ctypes.c_void_p(ctypes.c_void_p.from_buffer(pointer).value)
