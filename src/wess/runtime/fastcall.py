"""The fast call path: wasmtime's C API through ctypes, one Store per call.

wasmtime-py re-reads a function's type and converts every value through ``Val`` on
each call. Here the signature is resolved once per compiled module, and arguments are
packed with a precompiled ``struct`` into a per-thread scratch buffer. The call is
``wasmtime_func_call``, which checks the values against the function's real type:
the signature comes from Wess's own reading of the binary, and should that reading
ever be wrong the call fails cleanly instead of reading or writing past the buffer
(``wasmtime_func_call_unchecked`` would save 0.3 us and give that guarantee up).
Each call still gets a fresh Store and instance with every limit.

The C functions come from ``capi`` and take no ``argtypes``: arguments are built as
ctypes objects ahead of time (pointers, sizes, the numbers of each ``Limits``), since
converting them on each call cost a fifth of the call.

WASI modules, modules importing a per-call host function and commands' ``_start``
take the documented path (``sandbox``), which gives each call its ``GuestIO``.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from collections.abc import Callable, Sequence
from itertools import chain
from time import perf_counter_ns
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from wess.errors import ExecutionError
from wess.models import FunctionSignature, ValueType
from wess.runtime.analysis import is_command_entry
from wess.runtime.capi import CApi, Handle, address_of, pointer_to
from wess.runtime.codec import Encoder, Number
from wess.runtime.compiled import Compiled
from wess.runtime.growguard import GUARD_EXPORT
from wess.runtime.invocation import Budgets, Caller, Invocation
from wess.runtime.limits import Limits
from wess.runtime.traps import Failure, classify

SLOT = ctypes.sizeof(ffi.wasmtime_val_t)  # kind byte, padding, then the value
SLOT_OF = ffi.wasmtime_val_t.of.offset
FORMATS = {ValueType.I32: "i", ValueType.I64: "q", ValueType.F32: "f", ValueType.F64: "d"}
SIZES = {ValueType.I32: 4, ValueType.I64: 8, ValueType.F32: 4, ValueType.F64: 8}
KINDS = {
    ValueType.I32: ffi.WASMTIME_I32.value,
    ValueType.I64: ffi.WASMTIME_I64.value,
    ValueType.F32: ffi.WASMTIME_F32.value,
    ValueType.F64: ffi.WASMTIME_F64.value,
}
EXTERN_GLOBAL = b"\x01"
GUARD_NAME = GUARD_EXPORT.encode()
_new = tuple.__new__
NO_OUTPUT = (b"", b"", False, None, False, False, (), 0)
"""An ``Invocation``'s fields after ``fuel_used`` for a call that wrote nothing."""

# A thread's scratch buffer: instance, extern, trap and fuel cells, then the values.
INSTANCE = 0
EXTERN = 16
EXTERN_OF = ffi.wasmtime_extern_t.of.offset
TRAP = EXTERN + ((ctypes.sizeof(ffi.wasmtime_extern_t) + 15) // 16) * 16
FUEL = TRAP + 8
VALUES = FUEL + 8
MIN_SLOTS = 16
SHAPES = 256
"""Most signatures whose value layouts a ``FastPath`` keeps for reuse."""


class _Scratch:
    """One thread's cells for the C calls to write into, and their addresses:
    ``params`` argument slots from ``VALUES``, then ``results`` result slots."""

    def __init__(self, params: int, results: int) -> None:
        self.params = params
        self.results = results
        self.buffer = (ctypes.c_char * (VALUES + SLOT * (params + results)))()
        base = ctypes.addressof(self.buffer)
        self.instance = ctypes.c_void_p(base + INSTANCE)
        self.extern = ctypes.c_void_p(base + EXTERN)
        self.func = ctypes.c_void_p(base + EXTERN + EXTERN_OF)
        self.trap_cell = ctypes.c_void_p(base + TRAP)
        self.fuel_cell = ctypes.c_void_p(base + FUEL)
        self.arguments = ctypes.c_void_p(base + VALUES)
        self.results_offset = VALUES + SLOT * params
        self.results_cell = ctypes.c_void_p(base + self.results_offset)
        self.trap = ctypes.c_void_p.from_buffer(self.buffer, TRAP)
        self.fuel = ctypes.c_uint64.from_buffer(self.buffer, FUEL)


class _Budget:
    """The limits of a call as ready-made ctypes arguments."""

    __slots__ = ("fuel", "fuel_arg", "instances", "limits", "memory", "metered", "tables", "ticks")

    def __init__(self, limits: Limits, fuel: int, ticks: int) -> None:
        self.limits = limits
        self.memory = ctypes.c_int64(limits.max_memory)
        self.tables = ctypes.c_int64(limits.max_table_elements)
        self.instances = ctypes.c_int64(limits.max_instances)
        self.fuel = fuel
        self.fuel_arg = ctypes.c_uint64(fuel)
        self.ticks = ctypes.c_uint64(ticks)
        self.metered = limits.fuel is not None


class FastPath:
    """Builds C API callers for modules that need no ``GuestIO``.

    What callers can share, they share: the engine pointer, the limits as C arguments
    (``budget``) and, per signature, the value layout (``shape``). A caller lives as
    long as its module stays compiled, so this keeps each one small.
    """

    def __init__(self, engine: wasmtime.Engine, budgets: Budgets) -> None:
        self.api = CApi()
        self.engine = engine
        self.engine_arg = pointer_to(engine.ptr())
        self.budgets = budgets
        self.local = threading.local()  # each thread's scratch buffer, shared by functions
        self._shapes: dict[tuple[tuple[ValueType, ...], tuple[ValueType, ...]], _Shape] = {}
        self._budget: _Budget | None = None

    def caller(
        self, compiled: Compiled, signature: FunctionSignature, encode: Encoder
    ) -> Caller | None:
        if compiled.analysis.needs_call_io or is_command_entry(signature) or compiled.pre is None:
            return None  # WASI, a per-call host function, a command, or linked modules
        return _FastCaller(self, compiled, signature, encode)

    def shape(self, signature: FunctionSignature) -> _Shape:
        """The layout of ``signature``'s values; the first ``SHAPES`` kept for reuse."""
        key = (signature.params, signature.results)
        shape = self._shapes.get(key)
        if shape is None:
            shape = _Shape(*key)
            if len(self._shapes) < SHAPES:
                self._shapes[key] = shape
        return shape

    def budget(self, limits: Limits) -> _Budget:
        """``limits`` as C arguments (remembered for the last limits seen)."""
        budget = self._budget
        if budget is None or budget.limits is not limits:
            budget = self._budget = _Budget(limits, *self.budgets.of(limits))
        return budget


def _layout(types: Sequence[ValueType], *, kinds: bool) -> struct.Struct:
    """``wasmtime_val_t`` slots: the kind byte (or padding), then the value."""
    head = f"B{SLOT_OF - 1}x" if kinds else f"{SLOT_OF}x"
    return struct.Struct(
        "<" + "".join(f"{head}{FORMATS[t]}{SLOT - SLOT_OF - SIZES[t]}x" for t in types)
    )


Packer = Callable[[Any, Sequence[Number]], None]


def _packer(params: Sequence[ValueType]) -> Packer:
    """Writes arguments with their kinds; spelled out for small arities, which is
    twice as quick as interleaving kinds and values at each call."""
    pack = _layout(params, kinds=True).pack_into
    kinds = tuple(KINDS[t] for t in params)
    if len(kinds) == 0:
        return lambda buffer, values: None
    if len(kinds) == 1:
        (k0,) = kinds
        return lambda buffer, values: pack(buffer, VALUES, k0, values[0])
    if len(kinds) == 2:
        k0, k1 = kinds
        return lambda buffer, values: pack(buffer, VALUES, k0, values[0], k1, values[1])
    if len(kinds) == 3:
        k0, k1, k2 = kinds
        return lambda buffer, values: pack(
            buffer, VALUES, k0, values[0], k1, values[1], k2, values[2]
        )
    return lambda buffer, values: pack(
        buffer, VALUES, *chain.from_iterable(zip(kinds, values, strict=True))
    )


class _Shape:
    """The values of one signature in the scratch buffer, and their counts as C
    arguments: the same for every function of that signature."""

    __slots__ = ("large", "pack", "params", "params_arg", "results", "results_arg", "unpack")

    def __init__(self, params: tuple[ValueType, ...], results: tuple[ValueType, ...]) -> None:
        self.pack = _packer(params)
        self.unpack = _layout(results, kinds=False).unpack_from
        self.params = len(params)
        self.results = len(results)
        self.params_arg = ctypes.c_size_t(self.params)
        self.results_arg = ctypes.c_size_t(self.results)
        self.large = max(self.params, self.results) > MIN_SLOTS  # may outgrow a scratch


class _FastCaller:
    __slots__ = (
        "_api",
        "_budget",
        "_compiled",
        "_encode",
        "_engine",
        "_export",
        "_export_size",
        "_large",
        "_local",
        "_name",
        "_pack",
        "_params",
        "_params_arg",
        "_path",
        "_pre",
        "_results",
        "_results_arg",
        "_unpack",
    )
    path = "fast"

    def __init__(
        self, path: FastPath, compiled: Compiled, signature: FunctionSignature, encode: Encoder
    ) -> None:
        shape = path.shape(signature)
        self._api = path.api
        self._path = path
        self._engine = path.engine_arg
        assert compiled.pre is not None  # FastPath.caller took only these
        self._pre = address_of(compiled.pre.ptr())
        self._compiled = compiled  # keeps the module and InstancePre alive
        self._name = signature.name
        self._export = signature.name.encode()
        self._export_size = ctypes.c_size_t(len(self._export))
        self._pack = shape.pack
        self._unpack = shape.unpack
        self._params = shape.params
        self._results = shape.results
        self._params_arg = shape.params_arg
        self._results_arg = shape.results_arg
        self._large = shape.large
        self._encode = encode
        self._budget: _Budget | None = None
        self._local = path.local

    def __call__(self, values: Sequence[Number], limits: Limits) -> Invocation:
        api = self._api
        budget = self._budget
        if budget is None or budget.limits is not limits:
            budget = self._budget = self._path.budget(limits)
        try:
            scratch: _Scratch = self._local.scratch
            if self._large and (scratch.params < self._params or scratch.results < self._results):
                raise AttributeError
        except AttributeError:
            scratch = self._local.scratch = _Scratch(
                max(self._params, MIN_SLOTS), max(self._results, MIN_SLOTS)
            )
        store = api.store_new(self._engine, None, None)
        try:
            context = api.store_context(store)
            api.store_limiter(
                store, budget.memory, budget.tables, budget.instances, api.unlimited, api.unlimited
            )
            api.set_fuel(context, budget.fuel_arg)
            api.set_epoch_deadline(context, budget.ticks)
            start = perf_counter_ns()
            error = api.instantiate(self._pre, context, scratch.instance, scratch.trap_cell)
            instantiated = perf_counter_ns()
            if error or scratch.trap.value:
                raise self._failed(error, scratch, None, limits)
            if not api.export_get(
                context, scratch.instance, self._export, self._export_size, scratch.extern
            ):
                raise AssertionError(f"export {self._name} vanished")  # analysed at load
            self._pack(scratch.buffer, values)
            error = api.call(
                context,
                scratch.func,
                scratch.arguments,
                self._params_arg,
                scratch.results_cell,
                self._results_arg,
                scratch.trap_cell,
            )
            elapsed = perf_counter_ns() - start
            if error or scratch.trap.value:
                raise self._failed(error, scratch, context, limits)
            results = self._encode(self._unpack(scratch.buffer, scratch.results_offset))
            fuel_used = None
            if budget.metered:
                api.get_fuel(context, scratch.fuel_cell)
                fuel_used = budget.fuel - scratch.fuel.value
            # tuple.__new__ skips the NamedTuple's keyword-handling constructor
            setup = (instantiated - start) // 1000
            return _new(Invocation, (results, elapsed // 1000, fuel_used, *NO_OUTPUT, setup))
        finally:
            api.store_delete(store)

    def _failed(
        self, error: int | None, scratch: _Scratch, context: Handle | None, limits: Limits
    ) -> ExecutionError:
        api = self._api
        trap = scratch.trap.value
        scratch.trap.value = None
        vec = ffi.wasm_byte_vec_t()
        vec_arg = ctypes.byref(vec)
        trap_code = exit_code = None
        if trap:
            code = ctypes.c_uint8()
            if api.trap_code(ctypes.c_void_p(trap), ctypes.byref(code)):
                trap_code = code.value
            api.trap_message(ctypes.c_void_p(trap), vec_arg)
            api.trap_delete(ctypes.c_void_p(trap))
        else:
            status = ctypes.c_int()
            if api.error_exit_status(ctypes.c_void_p(error), ctypes.byref(status)):
                exit_code = status.value
            api.error_message(ctypes.c_void_p(error), vec_arg)
            api.error_delete(ctypes.c_void_p(error))
        text = ctypes.string_at(vec.data, vec.size).decode("utf-8", errors="replace")
        api.byte_vec_delete(vec_arg)
        failure = Failure(
            message=text,
            trap_code=trap_code,
            exit_code=exit_code,
            instantiating=context is None,
            refused_pages=self._refused_pages(scratch, context),
        )
        return classify(
            failure, function=self._name, limits=limits, footprint=self._compiled.footprint
        )

    def _refused_pages(self, scratch: _Scratch, context: Handle | None) -> int:
        if context is None or not self._compiled.guarded:
            return 0
        api = self._api
        if not api.export_get(
            context, scratch.instance, GUARD_NAME, ctypes.c_size_t(len(GUARD_NAME)), scratch.extern
        ):
            return 0
        if scratch.buffer[EXTERN] != EXTERN_GLOBAL:
            return 0
        value = ffi.wasmtime_val_t()
        extern = scratch.extern.value
        assert extern is not None
        api.global_get(context, ctypes.c_void_p(extern + EXTERN_OF), ctypes.byref(value))
        return int(value.of.i64) & 0xFFFF_FFFF_FFFF_FFFF
