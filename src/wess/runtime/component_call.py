"""Calling a component's function: a fresh Store and instance per call under the call's
limits, through wasmtime's C API for a component without imports (``ComponentApi``) and
through wasmtime-py with the WASI context for one importing WASI; its output bounded,
its failures classified like a core module's."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Sequence
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc
from wasmtime.component._enter import maybe_raise_last_exn

from wess.errors import ExecutionError
from wess.models import FunctionSignature
from wess.runtime.capi import CApi, Handle, pointer_to
from wess.runtime.command_io import EXIT_SUCCESS, BoundedOutput, CommandInput
from wess.runtime.component import (
    NO_FOOTPRINT,
    NO_STORE,
    TRAP_MESSAGES,
    CompiledComponent,
    function_type,
)
from wess.runtime.component_values import component_decoder, component_encoder
from wess.runtime.invocation import Budgets, Invocation
from wess.runtime.limits import Limits
from wess.runtime.traps import Failure, Output, classify


class ComponentApi(CApi):
    """The C functions of a component call, on private library handles (see ``capi``):
    instantiating and calling run guest code and release the GIL."""

    def __init__(self) -> None:
        super().__init__()
        quick = ctypes.PyDLL(ffi.dll._name)
        guest = ctypes.CDLL(ffi.dll._name)
        self.component_instantiate = guest.wasmtime_component_linker_instantiate
        self.component_instantiate.restype = ctypes.c_void_p
        self.component_call = guest.wasmtime_component_func_call
        self.component_call.restype = ctypes.c_void_p
        self.component_get_func = quick.wasmtime_component_instance_get_func
        self.component_get_func.restype = ctypes.c_bool


class ComponentCaller:
    """Calls one function of a component in a fresh Store and instance per call.

    ``instances`` bounds the core instances of that Store: a component's count is set
    by its structure (a componentize-py component has 14), not by what its code does,
    so it has a bound of its own (``RuntimeConfig.max_component_instances``) rather
    than ``Limits.max_instances``.
    """

    path = "component"

    def __init__(
        self,
        engine: wasmtime.Engine,
        linker: wc.Linker,
        budgets: Budgets,
        compiled: CompiledComponent,
        signature: FunctionSignature,
        *,
        instances: int,
        api: ComponentApi,
    ) -> None:
        ty, index = function_type(engine, compiled.component, signature.name)
        self._api = api
        self._engine_arg = pointer_to(engine.ptr())
        self._linker_arg = pointer_to(linker.ptr())
        self._component_arg = pointer_to(compiled.component.ptr())
        self._index_arg = pointer_to(index.ptr())
        self._instances_arg = ctypes.c_int64(instances)
        self._arguments = ffi.wasmtime_component_val_t * len(ty.params)
        self._limits: tuple[Limits | None, tuple[Any, ...]] = (None, ())
        self._engine = engine
        self._linker = linker
        self._budgets = budgets
        self._component = compiled.component
        self._index = index
        self._name = signature.name
        self._params = [param for _, param in ty.params]
        self._count = len(self._params)
        self._result = ty.result
        self._wasi = bool(compiled.analysis.imports)
        self._instances = instances
        self.decode = component_decoder(signature.name, ty)
        self._encode = component_encoder(ty)

    def __call__(self, values: Sequence[Any], limits: Limits) -> Invocation:
        if not self._wasi:
            return self._call_direct(values, limits)
        return self._call_wasi(values, limits, None)

    def command(self, command: CommandInput, limits: Limits) -> Invocation:
        """Run a ``wasi:cli/run`` component with ``command``'s stdin, argv and env: its
        exit status is 0 when ``run`` returns ``ok``, 1 for ``err``, or what it passed
        to ``wasi:cli/exit``."""
        return self._call_wasi((), limits, command)

    def _call_wasi(
        self, values: Sequence[Any], limits: Limits, command: CommandInput | None
    ) -> Invocation:
        """A call in a wasmtime-py Store, which carries the WASI context."""
        fuel, ticks = self._budgets.of(limits)
        store = wasmtime.Store(self._engine)
        output = BoundedOutput(limits.max_output)
        exit_code: int | None = None
        stdin = _StdinFile(command.stdin if command is not None else b"")
        try:
            store.set_limits(
                memory_size=limits.max_memory,
                table_elements=limits.max_table_elements,
                instances=self._instances,
            )
            store.set_fuel(fuel)
            store.set_epoch_deadline(ticks)
            store.set_wasi(_wasi_config(output, command, stdin))
            start = time.perf_counter_ns()
            instantiated = start
            instance: wc.Instance | None = None
            try:
                instance = self._linker.instantiate(store, self._component)
                instantiated = time.perf_counter_ns()
                raw = self._call(store, instance, values)
            except wasmtime.ExitTrap as exc:
                if command is None or instance is None:
                    raise self._failed(exc, instance is None, limits, output) from None
                exit_code, raw = exc.code, None
            except wasmtime.WasmtimeError as exc:
                raise self._failed(exc, instance is None, limits, output) from None
            elapsed = time.perf_counter_ns() - start
            fuel_used = fuel - store.get_fuel() if limits.fuel is not None else None
            if command is not None:
                results: list[Any] = []
                if exit_code is None:  # run returned: ok is success, err failure
                    (returned,) = self._encode(raw) or [{"ok": None}]
                    exit_code = EXIT_SUCCESS if "ok" in returned else EXIT_FAILURE
            else:
                results = self._encode(raw)
        finally:
            store.close()
            stdin.close()
        return Invocation(
            results=results,
            duration_us=elapsed // 1000,
            fuel_used=fuel_used,
            stdout=output.stdout,
            stderr=output.stderr,
            output_truncated=output.truncated,
            exit_code=exit_code,
            stdout_truncated=output.stdout_truncated,
            stderr_truncated=output.stderr_truncated,
            instantiate_us=(instantiated - start) // 1000,
        )

    def _call_direct(self, values: Sequence[Any], limits: Limits) -> Invocation:
        """A call through the C API alone, for a component without imports."""
        api = self._api
        fuel, ticks = self._budgets.of(limits)
        seen, arguments = self._limits
        if seen is not limits:  # the limits as C arguments, made once per limits
            arguments = (
                ctypes.c_int64(limits.max_memory),
                ctypes.c_int64(limits.max_table_elements),
                ctypes.c_uint64(fuel),
                ctypes.c_uint64(ticks),
            )
            self._limits = (limits, arguments)
        memory, tables, fuel_arg, ticks_arg = arguments
        store = api.store_new(self._engine_arg, None, None)
        try:
            context = api.store_context(store)
            api.store_limiter(
                store, memory, tables, self._instances_arg, api.unlimited, api.unlimited
            )
            api.set_fuel(context, fuel_arg)
            api.set_epoch_deadline(context, ticks_arg)
            start = time.perf_counter_ns()
            instance = ffi.wasmtime_component_instance_t()
            error = api.component_instantiate(
                self._linker_arg, context, self._component_arg, ctypes.byref(instance)
            )
            instantiated = time.perf_counter_ns()
            if error:
                raise self._failed(_error(error), True, limits, None)
            func = ffi.wasmtime_component_func_t()
            found = api.component_get_func(
                ctypes.byref(instance), context, self._index_arg, ctypes.byref(func)
            )
            assert found, f"export {self._name} vanished"  # analysed at load
            raw = self._lowered_call(context, func, values, limits)
            elapsed = time.perf_counter_ns() - start
            fuel_used = None
            if limits.fuel is not None:
                left = ctypes.c_uint64()
                api.get_fuel(context, ctypes.byref(left))
                fuel_used = fuel - left.value
            results = self._encode(raw)
        finally:
            api.store_delete(store)
        return Invocation(
            results, elapsed // 1000, fuel_used, instantiate_us=(instantiated - start) // 1000
        )

    def _lowered_call(
        self, context: Handle, func: Any, values: Sequence[Any], limits: Limits
    ) -> Any:
        count = self._count
        params = self._arguments()
        lowered = 0
        try:
            for ty, value in zip(self._params, values, strict=True):
                ty.convert_to_c(NO_STORE, value, ctypes.pointer(params[lowered]))
                lowered += 1
            result_ty = self._result
            space = ffi.wasmtime_component_val_t() if result_ty is not None else None
            error = self._api.component_call(
                ctypes.byref(func),
                context,
                params,
                ctypes.c_size_t(count),
                ctypes.byref(space) if space is not None else None,
                ctypes.c_size_t(0 if space is None else 1),
            )
            if error:
                raise self._failed(_error(error), False, limits, None)
            if space is None or result_ty is None:
                return None
            return result_ty.convert_from_c(space)
        finally:
            for i in range(lowered):
                ffi.wasmtime_component_val_delete(ctypes.byref(params[i]))

    def _call(self, store: wasmtime.Store, instance: wc.Instance, values: Sequence[Any]) -> Any:
        """What ``Func.__call__`` does, with the types read once; a command's ``run``
        result comes back lifted to JSON (``{"ok": null}``)."""
        func = instance.get_func(store, self._index)
        assert func is not None
        count = self._count
        params = (ffi.wasmtime_component_val_t * count)()
        lowered = 0
        try:
            for ty, value in zip(self._params, values, strict=True):
                ty.convert_to_c(store, value, ctypes.pointer(params[lowered]))
                lowered += 1
            result_ty = self._result
            space = ffi.wasmtime_component_val_t() if result_ty is not None else None
            error = ffi.wasmtime_component_func_call(
                ctypes.byref(func._func),
                store._context(),
                params,
                count,
                ctypes.byref(space) if space is not None else None,
                0 if space is None else 1,
            )
            if error:
                failure = wasmtime.WasmtimeError._from_ptr(error)
                maybe_raise_last_exn()
                raise failure
            if space is None or result_ty is None:
                return None
            return result_ty.convert_from_c(space)
        finally:
            for i in range(lowered):
                ffi.wasmtime_component_val_delete(ctypes.byref(params[i]))

    def _failed(
        self,
        exc: wasmtime.WasmtimeError,
        instantiating: bool,
        limits: Limits,
        capture: BoundedOutput | None,
    ) -> ExecutionError:
        message = str(exc)
        failure = Failure(
            message=message,
            trap_code=_trap_code(message),
            exit_code=exc.code if isinstance(exc, wasmtime.ExitTrap) else None,
            instantiating=instantiating,
        )
        output = None
        if capture is not None:
            output = Output(capture.stdout, capture.stderr, capture.truncated)
        return classify(
            failure, function=self._name, limits=limits, footprint=NO_FOOTPRINT, output=output
        )


EXIT_FAILURE = 1
"""A ``wasi:cli/run`` component's status when ``run`` returns ``err``."""


class _StdinFile:
    """A command's stdin as a file WASI can open: an anonymous memory file (Linux),
    read from its start through ``/proc/self/fd``; nothing touches the disk."""

    def __init__(self, data: bytes) -> None:
        self._fd: int | None = None
        if data:
            self._fd = os.memfd_create("wess-stdin", os.MFD_CLOEXEC)
            os.write(self._fd, data)

    @property
    def path(self) -> str | None:
        return None if self._fd is None else f"/proc/self/fd/{self._fd}"

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _wasi_config(
    output: BoundedOutput, command: CommandInput | None, stdin: _StdinFile
) -> wasmtime.WasiConfig:
    """WASI granting nothing but the standard streams: stdout and stderr into
    ``output``; a command's stdin, argv and env."""
    config = wasmtime.WasiConfig()
    config.stdout_custom = output.write_stdout
    config.stderr_custom = output.write_stderr
    if command is not None:
        if stdin.path is not None:
            config.stdin_file = stdin.path
        if command.argv:
            config.argv = list(command.argv)
        if command.env:
            config.env = [list(pair) for pair in command.env]
    return config


def _error(address: int) -> wasmtime.WasmtimeError:
    """The wasmtime-py error for a ``wasmtime_error_t`` the C API returned (it owns it)."""
    pointer = ctypes.cast(ctypes.c_void_p(address), ctypes.POINTER(ffi.wasmtime_error_t))
    error = wasmtime.WasmtimeError._from_ptr(pointer)
    maybe_raise_last_exn()
    return error


def _trap_code(message: str) -> int | None:
    """The trap code a component call's error names (its errors carry none)."""
    for text, code in TRAP_MESSAGES:
        if text in message:
            return code.value
    return None
