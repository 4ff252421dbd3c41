"""The documented call path: a fresh wasmtime-py Store and instance per call.

Every call gets its own Store with the limits applied (memory and table limiter,
instance count, fuel, epoch deadline) and, for WASI modules, its own WASI context
writing into an ``OutputCapture``. The Store is closed when the call ends. This path
serves every module; ``fastcall`` is quicker where it applies.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import wasmtime

from wess.errors import ExecutionError
from wess.models import FunctionSignature
from wess.runtime.codec import Encoder, Number
from wess.runtime.compiled import Compiled
from wess.runtime.growguard import GUARD_EXPORT
from wess.runtime.host import OutputCapture
from wess.runtime.invocation import Budgets, Caller, Invocation
from wess.runtime.limits import Limits
from wess.runtime.traps import Failure, Output, classify


class Sandbox:
    """Builds callers that go through wasmtime-py's documented API."""

    def __init__(self, engine: wasmtime.Engine, budgets: Budgets) -> None:
        self._engine = engine
        self._budgets = budgets

    def caller(self, compiled: Compiled, signature: FunctionSignature, encode: Encoder) -> Caller:
        return _DocumentedCaller(self._engine, self._budgets, compiled, signature, encode)


class _DocumentedCaller:
    path = "documented"

    def __init__(
        self,
        engine: wasmtime.Engine,
        budgets: Budgets,
        compiled: Compiled,
        signature: FunctionSignature,
        encode: Encoder,
    ) -> None:
        self._engine = engine
        self._budgets = budgets
        self._compiled = compiled
        self._name = signature.name
        self._results = len(signature.results)
        self._encode = encode
        self._wasi = compiled.analysis.uses_wasi

    def __call__(self, values: Sequence[Number], limits: Limits) -> Invocation:
        fuel, ticks = self._budgets.of(limits)
        store = wasmtime.Store(self._engine)
        capture = OutputCapture(limits.max_output) if self._wasi else None
        try:
            store.set_limits(
                memory_size=limits.max_memory,
                table_elements=limits.max_table_elements,
                instances=limits.max_instances,
            )
            store.set_fuel(fuel)
            store.set_epoch_deadline(ticks)
            if capture is not None:
                store.set_wasi(capture.wasi_config())
            start = time.perf_counter_ns()
            instance: wasmtime.Instance | None = None
            try:
                instance = self._compiled.pre.instantiate(store)
                instantiated = time.perf_counter_ns()
                function = instance.exports(store)[self._name]
                assert isinstance(function, wasmtime.Func)
                raw = function(store, *values)
            except wasmtime.WasmtimeError as exc:
                raise self._failed(exc, store, instance, limits, capture) from None
            except wasmtime.Trap as exc:
                raise self._failed(exc, store, instance, limits, capture) from None
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
        return Invocation(
            results=self._encode(results),
            duration_us=elapsed // 1000,
            fuel_used=fuel_used,
            stdout=capture.stdout if capture is not None else b"",
            stderr=capture.stderr if capture is not None else b"",
            output_truncated=capture.truncated if capture is not None else False,
            instantiate_us=(instantiated - start) // 1000,
        )

    def _failed(
        self,
        exc: wasmtime.WasmtimeError | wasmtime.Trap,
        store: wasmtime.Store,
        instance: wasmtime.Instance | None,
        limits: Limits,
        capture: OutputCapture | None,
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
        if capture is not None:
            output = Output(capture.stdout, capture.stderr, capture.truncated)
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
