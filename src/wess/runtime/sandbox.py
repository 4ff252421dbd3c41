"""The documented call path: a fresh wasmtime-py Store and instance per call.

Every call gets its own Store with the limits applied (memory and table limiter,
instance count, fuel, epoch deadline) and, for modules that need one, its own
``GuestIO`` (stdin, bounded output, log lines) in the runtime's ``CallSlot`` while it
runs, and for WASI modules a WASI context (a command's argv and env, nothing else).
The Store is closed when the call ends. This path serves every module; ``fastcall``
is quicker where it applies.

A command (``command``) runs ``_start``: its exit through ``proc_exit`` is its exit
status, not an error; a trap, a limit or a timeout is an error as for any call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol

import wasmtime

from wess.errors import ExecutionError
from wess.models import FunctionSignature
from wess.runtime.analysis import LINK_PREFIX
from wess.runtime.codec import Encoder, Number
from wess.runtime.command_io import CommandInput
from wess.runtime.compiled import Compiled
from wess.runtime.growguard import GUARD_EXPORT
from wess.runtime.guestio import CallSlot, GuestIO
from wess.runtime.invocation import Budgets, CommandCaller, Invocation
from wess.runtime.limits import Limits
from wess.runtime.traps import Failure, Output, classify


class Linkable(Protocol):
    """A compiled module with the modules it links (``program.Program``)."""

    @property
    def compiled(self) -> Compiled: ...

    @property
    def links(self) -> Mapping[str, Linkable]: ...


class Sandbox:
    """Builds callers that go through wasmtime-py's documented API. ``new_linker`` makes
    a Linker with the host's functions, for a module that links others: its links are
    instantiated in the call's own Store (so the call's fuel, deadline and instance
    limit cover them) and defined for it as ``wess:module/<name>``."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        budgets: Budgets,
        calls: CallSlot,
        *,
        new_linker: Callable[[], wasmtime.Linker] | None = None,
    ) -> None:
        self._engine = engine
        self._budgets = budgets
        self._calls = calls
        self._new_linker = new_linker

    def caller(
        self,
        compiled: Compiled,
        signature: FunctionSignature,
        encode: Encoder,
        *,
        links: Mapping[str, Linkable] | None = None,
    ) -> CommandCaller:
        instantiate: Instantiate = _pre_instantiated(compiled)
        if compiled.pre is None:
            if links is None or self._new_linker is None:
                raise RuntimeError("a module that links others is called through Runtime.link")
            instantiate = partial(_linked, self._new_linker, compiled, links)
        return _DocumentedCaller(
            self._engine, self._budgets, self._calls, compiled, signature, encode, instantiate
        )


Instantiate = Callable[[wasmtime.Store], wasmtime.Instance]


def _pre_instantiated(compiled: Compiled) -> Instantiate:
    def instantiate(store: wasmtime.Store) -> wasmtime.Instance:
        assert compiled.pre is not None
        return compiled.pre.instantiate(store)

    return instantiate


def _linked(
    new_linker: Callable[[], wasmtime.Linker],
    compiled: Compiled,
    links: Mapping[str, Linkable],
    store: wasmtime.Store,
) -> wasmtime.Instance:
    """``compiled`` instantiated in ``store`` with each module it links instantiated
    there first (theirs before them, depth first)."""
    if compiled.pre is not None:
        return compiled.pre.instantiate(store)
    linker = new_linker()
    for ref in compiled.analysis.links:
        target = links.get(ref)
        if target is None:
            raise RuntimeError(f"link {ref} was not resolved before the call")
        instance = _linked(new_linker, target.compiled, target.links, store)
        linker.define_instance(store, LINK_PREFIX + ref, instance)
    return linker.instantiate(store, compiled.module)


class _DocumentedCaller:
    path = "documented"

    def __init__(
        self,
        engine: wasmtime.Engine,
        budgets: Budgets,
        calls: CallSlot,
        compiled: Compiled,
        signature: FunctionSignature,
        encode: Encoder,
        instantiate: Instantiate,
    ) -> None:
        self._engine = engine
        self._budgets = budgets
        self._calls = calls
        self._compiled = compiled
        self._name = signature.name
        self._results = len(signature.results)
        self._encode = encode
        self._instantiate = instantiate
        # a linked module's links may use WASI (or a per-call host function) whether or not it does
        self._wasi = compiled.analysis.uses_wasi or compiled.pre is None
        self._io = compiled.analysis.needs_call_io or compiled.pre is None

    def __call__(self, values: Sequence[Number], limits: Limits) -> Invocation:
        io = GuestIO(max_output=limits.max_output) if self._io else None
        return self._run(values, limits, io, None)

    def command(self, command: CommandInput, limits: Limits) -> Invocation:
        """Run ``_start`` with ``command``'s stdin, argv and env."""
        io = GuestIO(stdin=command.stdin, max_output=limits.max_output)
        return self._run((), limits, io, command)

    def _run(
        self,
        values: Sequence[Number],
        limits: Limits,
        io: GuestIO | None,
        command: CommandInput | None,
    ) -> Invocation:
        fuel, ticks = self._budgets.of(limits)
        store = wasmtime.Store(self._engine)
        calls = self._calls
        exit_code: int | None = None
        raw: Any = None
        try:
            store.set_limits(
                memory_size=limits.max_memory,
                table_elements=limits.max_table_elements,
                instances=limits.max_instances,
            )
            store.set_fuel(fuel)
            store.set_epoch_deadline(ticks)
            if self._wasi:
                store.set_wasi(_wasi_config(command))
            start = time.perf_counter_ns()
            instance: wasmtime.Instance | None = None
            calls.current = io
            try:
                instance = self._instantiate(store)
                instantiated = time.perf_counter_ns()
                function = instance.exports(store)[self._name]
                assert isinstance(function, wasmtime.Func)
                raw = function(store, *values)
            except wasmtime.ExitTrap as exc:
                if command is None or instance is None:
                    raise self._failed(exc, store, instance, limits, io) from None
                exit_code = exc.code
            except wasmtime.WasmtimeError as exc:
                raise self._failed(exc, store, instance, limits, io) from None
            except wasmtime.Trap as exc:
                raise self._failed(exc, store, instance, limits, io) from None
            finally:
                calls.current = None
            elapsed = time.perf_counter_ns() - start
            fuel_used = fuel - store.get_fuel() if limits.fuel is not None else None
        finally:
            store.close()
        if self._results == 0:
            results = []
        elif self._results == 1:
            results = [raw]
        else:
            results = list(raw)
        if command is not None and exit_code is None:
            exit_code = 0
        if io is None:
            return Invocation(
                self._encode(results),
                elapsed // 1000,
                fuel_used,
                instantiate_us=(instantiated - start) // 1000,
            )
        output = io.output
        return Invocation(
            results=self._encode(results),
            duration_us=elapsed // 1000,
            fuel_used=fuel_used,
            stdout=output.stdout,
            stderr=output.stderr,
            output_truncated=output.truncated,
            exit_code=exit_code,
            stdout_truncated=output.stdout_truncated,
            stderr_truncated=output.stderr_truncated,
            logs=tuple(io.logs.lines),
            logs_dropped=io.logs.dropped,
            instantiate_us=(instantiated - start) // 1000,
        )

    def _failed(
        self,
        exc: wasmtime.WasmtimeError | wasmtime.Trap,
        store: wasmtime.Store,
        instance: wasmtime.Instance | None,
        limits: Limits,
        io: GuestIO | None,
    ) -> ExecutionError:
        trap_code = exc.trap_code if isinstance(exc, wasmtime.Trap) else None
        failure = Failure(
            message=exc.message if isinstance(exc, wasmtime.Trap) else str(exc),
            trap_code=trap_code.value if trap_code is not None else None,
            exit_code=exc.code if isinstance(exc, wasmtime.ExitTrap) else None,
            instantiating=instance is None,
            refused_pages=self._refused_pages(store, instance),
        )
        output = None
        if io is not None:
            output = Output(io.output.stdout, io.output.stderr, io.output.truncated)
        return classify(
            failure,
            function=self._name,
            limits=limits,
            footprint=self._compiled.footprint,
            output=output,
        )

    def _refused_pages(self, store: wasmtime.Store, instance: wasmtime.Instance | None) -> int:
        if instance is None or not self._compiled.guarded:
            return 0
        recorded = instance.exports(store).get(GUARD_EXPORT)
        if not isinstance(recorded, wasmtime.Global):
            return 0
        value = recorded.value(store)
        return value & 0xFFFF_FFFF_FFFF_FFFF if isinstance(value, int) else 0


def _wasi_config(command: CommandInput | None) -> wasmtime.WasiConfig:
    """A WASI context granting nothing: no directories, no stdin (``GuestIO`` serves the
    standard streams); a command's argv and env."""
    config = wasmtime.WasiConfig()
    if command is not None:
        if command.argv:
            config.argv = list(command.argv)
        if command.env:
            config.env = [list(pair) for pair in command.env]
    return config
