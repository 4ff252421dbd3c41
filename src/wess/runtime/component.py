"""WebAssembly components (the component model, WASI 0.2): compiled, analysed and called.

A component is told from a core module by the layer field of its header. It compiles
to a ``CompiledComponent`` whose catalogue lists every exported function (top-level,
or ``namespace:package/interface#function`` inside an exported WIT interface) whose
values can cross JSON (``component_types.callable_type``), each with its WIT type.
Its imports must be WASI 0.2 interfaces (``wasi:io``, ``clocks``, ``random``, ``cli``,
``filesystem``, ``sockets``), which the component linker provides with nothing granted: no
preopened directory, no network, no environment, an empty stdin, stdout and stderr
captured like a WASI module's.

Every call gets a fresh Store with the call's limits (memory, tables, instances,
fuel, epoch deadline) and a fresh instance, as core modules do. The call itself goes
through wasmtime's C API with the function's parameter and result types read once
(``wasmtime.component.Func.__call__`` reads them again on every call); a component
without imports also gets its Store, limits and instance through the C API directly
(``ComponentApi``), as ``fastcall`` does for core modules, while one importing WASI
gets a wasmtime-py Store, which carries the WASI context.
"""

from __future__ import annotations

import ctypes
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc
from wasmtime.component._enter import maybe_raise_last_exn

from wess.errors import CompileLimitExceeded, ExecutionError, InvalidWasm, UnknownImport
from wess.models import FunctionSignature
from wess.runtime.analysis import ModuleAnalysis
from wess.runtime.artifact import Artifact, ArtifactUnusable
from wess.runtime.capi import CApi, Handle, pointer_to
from wess.runtime.command_io import BoundedOutput
from wess.runtime.component_types import callable_type, func_wit
from wess.runtime.component_values import component_decoder, component_encoder
from wess.runtime.growguard import Footprint
from wess.runtime.invocation import Budgets, Invocation
from wess.runtime.limits import Limits
from wess.runtime.reasons import reason_of
from wess.runtime.traps import Failure, Output, classify

WASI_IMPORT = re.compile(r"^wasi:(io|clocks|random|cli|filesystem|sockets)/[a-z0-9-]+@0\.2\.\d+$")
PROVIDED = (
    "Wess provides the WASI 0.2 interfaces of wasi:io, wasi:clocks, wasi:random, wasi:cli, "
    "wasi:filesystem and wasi:sockets (with no directory and no network granted)"
)
INTERFACE_SEPARATOR = "#"
INTERFACE_NAME = re.compile(r"^[a-z0-9-]+:[a-z0-9-]+/[a-z0-9-]+(@[0-9a-z.+-]+)?$")
"""An exported interface in WIT's ``namespace:package/interface@version`` form; plain
instance exports (componentize-py's own ``exports``, with its ``init``) are not listed."""
IMAGE_PER_WASM_BYTE = 2
"""A compiled component's image is about twice its wasm (18 MB -> 33 MB measured)."""
COMPONENT_OVERHEAD = 64 << 10
NO_FOOTPRINT = Footprint(memory_pages=(), table_elements=())
NO_STORE: Any = None
"""wasmtime-py's value conversions read the store for resources only, which Wess never
passes (``component_types.callable_type``)."""
TRAP_MESSAGES: tuple[tuple[str, wasmtime.TrapCode], ...] = (
    ("all fuel consumed", wasmtime.TrapCode.OUT_OF_FUEL),
    ("wasm trap: interrupt", wasmtime.TrapCode.INTERRUPT),
    ("`unreachable` instruction executed", wasmtime.TrapCode.UNREACHABLE),
    ("call stack exhausted", wasmtime.TrapCode.STACK_OVERFLOW),
    ("out of bounds memory access", wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS),
    ("integer divide by zero", wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO),
    ("integer overflow", wasmtime.TrapCode.INTEGER_OVERFLOW),
    ("undefined element", wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS),
    ("uninitialized element", wasmtime.TrapCode.INDIRECT_CALL_TO_NULL),
    ("indirect call type mismatch", wasmtime.TrapCode.BAD_SIGNATURE),
    ("invalid conversion to integer", wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER),
)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledComponent:
    """A component compiled once: what its calls need (see ``compiled.Compiled``)."""

    digest: str
    component: wc.Component
    analysis: ModuleAnalysis
    exports: frozenset[str]
    wasm_size: int
    size: int


def build_component_linker(engine: wasmtime.Engine) -> wc.Linker:
    """The component linker of a Runtime: WASI 0.2, shared by every call."""
    linker = wc.Linker(engine)
    linker.add_wasip2()
    return linker


def compile_component(
    engine: wasmtime.Engine, wasm: bytes, *, digest: str, max_bytes: int
) -> CompiledComponent:
    """``wasm`` compiled and analysed: ``InvalidWasm``, ``UnknownImport`` or
    ``CompileLimitExceeded`` when it cannot be."""
    if len(wasm) > max_bytes:
        raise CompileLimitExceeded(
            f"the component is {len(wasm)} bytes; the runtime compiles at most {max_bytes}",
            limit=max_bytes,
        )
    try:
        component = wc.Component(engine, wasm)
    except wasmtime.WasmtimeError as exc:
        reason = reason_of(str(exc))
        raise InvalidWasm(f"invalid WebAssembly component: {reason}", reason=reason) from None
    analysis, exports = analyze_component(engine, component)
    return CompiledComponent(
        digest=digest,
        component=component,
        analysis=analysis,
        exports=exports,
        wasm_size=len(wasm),
        size=len(wasm) * IMAGE_PER_WASM_BYTE + COMPONENT_OVERHEAD,
    )


def analyze_component(
    engine: wasmtime.Engine, component: wc.Component
) -> tuple[ModuleAnalysis, frozenset[str]]:
    """The catalogue and imports of ``component`` and every export name; raises
    ``UnknownImport`` for an import Wess does not provide."""
    ty = component.type
    imports = tuple(ty.imports(engine))
    for name in imports:
        if WASI_IMPORT.match(name) is None:
            raise UnknownImport(
                f"the component imports {name}, which Wess does not provide: {PROVIDED}",
                import_name=name,
                import_type="interface",
            )
    functions: list[FunctionSignature] = []
    exports: set[str] = set()
    for name, item in ty.exports(engine).items():
        exported = item.ty
        if isinstance(exported, wc.FuncType):
            exports.add(name)
            if callable_type(exported):
                functions.append(_signature(name, exported))
        elif isinstance(exported, wc.ComponentInstanceType) and INTERFACE_NAME.match(name):
            for inner, inner_item in exported.exports(engine).items():
                inner_type = inner_item.ty
                if isinstance(inner_type, wc.FuncType):
                    full = f"{name}{INTERFACE_SEPARATOR}{inner}"
                    exports.add(full)
                    if callable_type(inner_type):
                        functions.append(_signature(full, inner_type))
    analysis = ModuleAnalysis(functions=tuple(functions), imports=imports, component=True)
    return analysis, frozenset(exports)


def _signature(name: str, ty: wc.FuncType) -> FunctionSignature:
    return FunctionSignature(name=name, params=(), results=(), wit=func_wit(ty))


def restore_component(engine: wasmtime.Engine, artifact: Artifact) -> CompiledComponent:
    """The component of a trusted ``artifact``; ``ArtifactUnusable("stale")`` if this
    wasmtime refuses it."""
    try:
        component = wc.Component.deserialize(engine, artifact.image)
    except wasmtime.WasmtimeError as exc:
        raise ArtifactUnusable("stale", f"wasmtime refused the artifact: {exc}") from None
    return CompiledComponent(
        digest=artifact.digest,
        component=component,
        analysis=artifact.analysis,
        exports=artifact.exports,
        wasm_size=artifact.wasm_size,
        size=len(artifact.image) + COMPONENT_OVERHEAD,
    )


def component_artifact(compiled: CompiledComponent, *, flavor: str) -> Artifact:
    """``compiled`` as an artifact of ``flavor``."""
    return Artifact(
        digest=compiled.digest,
        flavor=flavor,
        image=bytes(compiled.component.serialize()),
        analysis=compiled.analysis,
        footprint=NO_FOOTPRINT,
        guarded=False,
        exports=compiled.exports,
        wasm_size=compiled.wasm_size,
    )


def function_type(
    engine: wasmtime.Engine, component: wc.Component, name: str
) -> tuple[wc.FuncType, wc.ExportIndex]:
    """The type and export index of the function ``name`` (``interface#function`` for
    one inside an exported interface)."""
    exports = component.type.exports(engine)
    interface, _, inner = name.rpartition(INTERFACE_SEPARATOR)
    if interface:
        outer = exports[interface].ty
        assert isinstance(outer, wc.ComponentInstanceType)
        ty = outer.exports(engine)[inner].ty
        parent = component.get_export_index(interface)
        index = component.get_export_index(inner, parent)
    else:
        ty = exports[name].ty
        index = component.get_export_index(name)
    assert isinstance(ty, wc.FuncType)
    assert index is not None
    return ty, index


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
        fuel, ticks = self._budgets.of(limits)
        store = wasmtime.Store(self._engine)
        capture = BoundedOutput(limits.max_output) if self._wasi else None
        try:
            store.set_limits(
                memory_size=limits.max_memory,
                table_elements=limits.max_table_elements,
                instances=self._instances,
            )
            store.set_fuel(fuel)
            store.set_epoch_deadline(ticks)
            if capture is not None:
                store.set_wasi(_writing_into(capture))
            start = time.perf_counter_ns()
            instance: wc.Instance | None = None
            try:
                instance = self._linker.instantiate(store, self._component)
                instantiated = time.perf_counter_ns()
                raw = self._call(store, instance, values)
            except wasmtime.WasmtimeError as exc:
                raise self._failed(exc, instance is None, limits, capture) from None
            elapsed = time.perf_counter_ns() - start
            fuel_used = fuel - store.get_fuel() if limits.fuel is not None else None
            results = self._encode(raw)
        finally:
            store.close()
        return Invocation(
            results=results,
            duration_us=elapsed // 1000,
            fuel_used=fuel_used,
            stdout=capture.stdout if capture is not None else b"",
            stderr=capture.stderr if capture is not None else b"",
            output_truncated=capture.truncated if capture is not None else False,
            stdout_truncated=capture.stdout_truncated if capture is not None else False,
            stderr_truncated=capture.stderr_truncated if capture is not None else False,
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
        """What ``Func.__call__`` does, with the types read once."""
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


def _writing_into(capture: BoundedOutput) -> wasmtime.WasiConfig:
    """A WASI context writing stdout and stderr into ``capture``, granting nothing else."""
    config = wasmtime.WasiConfig()
    config.stdout_custom = capture.write_stdout
    config.stderr_custom = capture.write_stderr
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
