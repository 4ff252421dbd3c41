"""WASI commands on the fast call path: ``_start`` through wasmtime's C API.

A command's call is mostly fixed costs: a Store, its limits, a WASI context, an
instance, the export and the call. ``fastcall`` already pays the first, the instance,
the export and the call through the C API; this adds the WASI context
(``wasmtime_context_set_wasi`` with a ``WasiConfig`` holding the command's argv and
env, nothing else) and the command's ``GuestIO`` in the runtime's ``CallSlot`` while it
runs (stdin, stdout and stderr are served by ``stdio``). An exit through ``proc_exit``
is the command's status; any other failure is classified as on every path, with the
output written so far.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from time import perf_counter_ns

import wasmtime

from wess.runtime.codec import Number
from wess.runtime.command_io import CommandInput
from wess.runtime.fastcall import MIN_SLOTS, _FastCaller, _Scratch
from wess.runtime.guestio import CallSlot, GuestIO
from wess.runtime.invocation import Invocation
from wess.runtime.limits import Limits
from wess.runtime.traps import Output

NO_COMMAND = CommandInput()


class FastCommandCaller(_FastCaller):
    """Runs a command's ``_start`` (``command``); a plain call runs it with no input."""

    __slots__ = ("_calls",)

    def bind(self, calls: CallSlot) -> FastCommandCaller:
        self._calls = calls
        return self

    def __call__(self, values: Sequence[Number], limits: Limits) -> Invocation:
        return self.command(NO_COMMAND, limits)

    def command(self, command: CommandInput, limits: Limits) -> Invocation:
        api = self._api
        budget = self._budget
        if budget is None or budget.limits is not limits:
            budget = self._budget = self._path.budget(limits)
        try:
            scratch: _Scratch = self._local.scratch
        except AttributeError:
            scratch = self._local.scratch = _Scratch(MIN_SLOTS, MIN_SLOTS)
        io = GuestIO(stdin=command.stdin, max_output=limits.max_output)
        calls = self._calls
        exit_code = 0
        store = api.store_new(self._engine, None, None)
        try:
            context = api.store_context(store)
            api.store_limiter(
                store, budget.memory, budget.tables, budget.instances, api.unlimited, api.unlimited
            )
            api.set_fuel(context, budget.fuel_arg)
            api.set_epoch_deadline(context, budget.ticks)
            config = wasmtime.WasiConfig()
            if command.argv:
                config.argv = list(command.argv)
            if command.env:
                config.env = [list(pair) for pair in command.env]
            error = api.set_wasi(context, ctypes.cast(config._consume(), ctypes.c_void_p))
            if error:
                raise self._failed(error, scratch, None, limits)
            start = perf_counter_ns()
            calls.current = io
            try:
                error = api.instantiate(self._pre, context, scratch.instance, scratch.trap_cell)
                if error or scratch.trap.value:
                    raise self._failed(error, scratch, None, limits, _output(io))
                instantiated = perf_counter_ns()
                if not api.export_get(
                    context, scratch.instance, self._export, self._export_size, scratch.extern
                ):
                    raise AssertionError(f"export {self._name} vanished")  # analysed at load
                error = api.call(
                    context,
                    scratch.func,
                    None,
                    self._params_arg,
                    None,
                    self._results_arg,
                    scratch.trap_cell,
                )
                if error and not scratch.trap.value:
                    status = ctypes.c_int()
                    if api.error_exit_status(ctypes.c_void_p(error), ctypes.byref(status)):
                        exit_code = status.value
                        api.error_delete(ctypes.c_void_p(error))
                        error = None
                if error or scratch.trap.value:
                    raise self._failed(error, scratch, context, limits, _output(io))
            finally:
                calls.current = None
            elapsed = perf_counter_ns() - start
            fuel_used = None
            if budget.metered:
                api.get_fuel(context, scratch.fuel_cell)
                fuel_used = budget.fuel - scratch.fuel.value
        finally:
            api.store_delete(store)
        output = io.output
        return Invocation(
            results=[],
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


def _output(io: GuestIO) -> Output:
    return Output(io.output.stdout, io.output.stderr, io.output.truncated)
