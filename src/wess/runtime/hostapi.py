"""The host API: Wess's own versioned import interfaces, in one registry.

Each interface is a wasm import module named ``wess:<name>@<version>``; a version,
once published, never changes: a new behaviour is a new version beside the old one.
Nothing here reaches the network or the host's disk.

- ``wess:log@1`` ``log(level: i32, ptr: i32, len: i32)``: keeps ``len`` bytes of UTF-8
  text at ``ptr`` as a line at ``level`` (0 debug, 1 info, 2 warn, 3 error) with the
  call, bounded (``guestio.LogBook``);
- ``wess:clock@1`` ``now_ms() -> i64``: Unix time in milliseconds, coarsened like
  WASI's clock (``clocks.GuestClock``);
- ``wess:kv@1`` ``get``, ``set``, ``delete``, ``list``: the key-value state of the
  module's namespace (``kv``, docs/kv.md), reached through the thread's ``KvSlot``.

To add an interface, add one ``HostInterface`` to ``interfaces`` below: analysis
accepts its imports (``provided``) and the linker defines them (``define``), so it is
the only place to change. A function whose ``per_call`` is set reads the running
call's ``GuestIO`` (its module then takes the documented call path, which sets it).
Host functions must never raise (see ``host.build_linker``).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import wasmtime

from wess.runtime.clocks import NANOS_PER_MS, REALTIME, GuestClock
from wess.runtime.guestio import CallSlot
from wess.runtime.kv import FUNCTIONS as KV_FUNCTIONS
from wess.runtime.kv import KV_MODULE, KvSlot, kv_functions
from wess.runtime.layout import FuncType

I32, I64 = b"\x7f", b"\x7e"
MEMORY_EXPORT = "memory"
ADDRESS_MASK = 0xFFFF_FFFF
VALTYPES = {I32: wasmtime.ValType.i32, I64: wasmtime.ValType.i64}


@dataclass(frozen=True, slots=True)
class HostFunction:
    """One function of an interface: its name, its wasm type, whether it needs the
    running call's ``GuestIO``, and its implementation (built once per linker)."""

    name: str
    type: FuncType
    implementation: Callable[..., object]
    per_call: bool = False
    access_caller: bool = False


@dataclass(frozen=True, slots=True)
class HostInterface:
    """A versioned import module (``wess:log@1``) and its functions."""

    module: str
    functions: tuple[HostFunction, ...]

    def define(self, linker: wasmtime.Linker) -> None:
        for function in self.functions:
            functype = wasmtime.FuncType(
                [VALTYPES[t]() for t in function.type.params],
                [VALTYPES[t]() for t in function.type.results],
            )
            linker.define_func(
                self.module,
                function.name,
                functype,
                function.implementation,
                access_caller=function.access_caller,
            )


def interfaces(
    *, clock: GuestClock, calls: CallSlot, kv: KvSlot | None = None
) -> tuple[HostInterface, ...]:
    """Every host interface Wess provides, bound to a Runtime's clock, call slot and
    key-value slot."""
    return (
        HostInterface(
            "wess:log@1",
            (
                HostFunction(
                    "log",
                    FuncType((I32, I32, I32), ()),
                    _logger(calls),
                    per_call=True,
                    access_caller=True,
                ),
            ),
        ),
        HostInterface(
            "wess:clock@1",
            (HostFunction("now_ms", FuncType((), (I64,)), _now_ms(clock)),),
        ),
        HostInterface(
            KV_MODULE,
            tuple(
                HostFunction(name, KV_FUNCTIONS[name], function, per_call=True, access_caller=True)
                for name, function in kv_functions(kv if kv is not None else KvSlot()).items()
            ),
        ),
    )


def _now_ms(clock: GuestClock) -> Callable[[], int]:
    def now_ms() -> int:
        nanos = clock.read(REALTIME)
        return 0 if nanos is None else nanos // NANOS_PER_MS

    return now_ms


def _logger(calls: CallSlot) -> Callable[[wasmtime.Caller, int, int, int], None]:
    def log(caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
        io = calls.current
        if io is None:
            return
        book = io.logs
        length &= ADDRESS_MASK
        if length > book.room():
            book.dropped += 1
            return
        try:
            text = read_memory(caller, ptr & ADDRESS_MASK, length)
        except Exception:  # never raise into wasmtime
            text = None
        if text is None:
            book.dropped += 1
            return
        book.add(level, text)

    return log


def read_memory(caller: wasmtime.Caller, address: int, length: int) -> bytes | None:
    """``length`` bytes at ``address`` of the caller's exported memory; None when it
    has none or the range falls outside it."""
    memory = caller.get(MEMORY_EXPORT)
    if not isinstance(memory, wasmtime.Memory) or address + length > memory.data_len(caller):
        return None
    base = ctypes.addressof(memory.data_ptr(caller).contents)
    return ctypes.string_at(base + address, length)


SIGNATURES: dict[tuple[str, str], tuple[FuncType, bool]] = {
    (interface.module, function.name): (function.type, function.per_call)
    for interface in interfaces(clock=GuestClock(), calls=CallSlot())
    for function in interface.functions
}
"""(module, name) -> (wasm type, per call) of every host function: what analysis
accepts, read without a Runtime."""


def provided() -> Iterable[str]:
    """``module.name`` of every host function, for messages."""
    return (f"{module}.{name}" for module, name in SIGNATURES)
