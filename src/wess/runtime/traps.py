"""Name what went wrong in a call: a ``Failure`` read from wasmtime becomes a Wess error.

Pure; both call paths (the wasmtime-py one and the C API one) read a ``Failure`` in
their own way and hand it here, so they raise identical errors. Details quote
wasmtime's reason as ``reasons.reason_of`` summarises it (no wasm backtrace, never a
Python traceback).
"""

from __future__ import annotations

from dataclasses import dataclass

from wasmtime import TrapCode

from wess.errors import ExecutionError, ExecutionTimeout, MemoryLimitExceeded, Trap
from wess.runtime.growguard import PAGE, Footprint, refused_beyond
from wess.runtime.limits import Limits
from wess.runtime.reasons import reason_of

TRAP_KINDS: dict[TrapCode, str] = {
    TrapCode.UNREACHABLE: "unreachable",
    TrapCode.INTEGER_DIVISION_BY_ZERO: "integer_divide_by_zero",
    TrapCode.INTEGER_OVERFLOW: "integer_overflow",
    TrapCode.STACK_OVERFLOW: "stack_overflow",
    TrapCode.MEMORY_OUT_OF_BOUNDS: "memory_out_of_bounds",
    TrapCode.TABLE_OUT_OF_BOUNDS: "table_out_of_bounds",
    TrapCode.INDIRECT_CALL_TO_NULL: "indirect_call_to_null",
    TrapCode.BAD_SIGNATURE: "bad_signature",
    TrapCode.BAD_CONVERSION_TO_INTEGER: "bad_conversion_to_integer",
    TrapCode.OUT_OF_FUEL: "out_of_fuel",
}
UNKNOWN = "unknown"
EXIT = "exit"
GC_HEAP_EXHAUSTED = "GC heap out of memory"
"""How wasmtime words an allocation the GC heap cannot hold; the store limiter bounds
that heap by ``max_memory`` as it does linear memory."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed call as wasmtime reported it, before Wess names it.

    ``trap_code`` is wasmtime's trap code (None for other errors); ``exit_code`` the
    status of a WASI ``proc_exit``; ``instantiating`` says the failure came before the
    function was called; ``refused_pages`` is the largest memory size (pages) whose
    grow was refused during the call, 0 when none was, or unknown.
    """

    message: str
    trap_code: int | None = None
    exit_code: int | None = None
    instantiating: bool = False
    refused_pages: int = 0


@dataclass(frozen=True, slots=True)
class Output:
    """What a WASI guest wrote before it failed, attached to the error."""

    stdout: bytes = b""
    stderr: bytes = b""
    truncated: bool = False

    def context(self) -> dict[str, object]:
        context: dict[str, object] = {}
        if self.stdout:
            context["stdout"] = self.stdout.decode("utf-8", errors="replace")
        if self.stderr:
            context["stderr"] = self.stderr.decode("utf-8", errors="replace")
        if self.truncated:
            context["output_truncated"] = True
        return context


def classify(
    failure: Failure,
    *,
    function: str,
    limits: Limits,
    footprint: Footprint,
    output: Output | None = None,
) -> ExecutionError:
    """The Wess error for ``failure`` in a call of ``function`` under ``limits``."""
    context = output.context() if output is not None else {}
    reason = reason_of(failure.message)
    code = _trap_code(failure.trap_code)
    if code is TrapCode.INTERRUPT:
        return ExecutionTimeout(
            f"{function} did not finish within the time limit of {limits.timeout_ms} ms",
            function=function,
            timeout_ms=limits.timeout_ms,
            **context,
        )
    if code is TrapCode.OUT_OF_FUEL:
        return Trap(
            f"{function} ran out of fuel: it used all {limits.fuel} units",
            kind="out_of_fuel",
            function=function,
            fuel=limits.fuel,
            **context,
        )
    if failure.refused_pages and refused_beyond(failure.refused_pages, limits.max_memory):
        asked = failure.refused_pages * PAGE
        return MemoryLimitExceeded(
            f"{function} failed after growing its memory to {asked} bytes was refused "
            f"(the limit is {limits.max_memory} bytes): {reason}",
            function=function,
            max_memory=limits.max_memory,
            requested=asked,
            **context,
        )
    if reason.startswith(GC_HEAP_EXHAUSTED):
        return MemoryLimitExceeded(
            f"{function} ran out of GC heap within the memory limit of {limits.max_memory} "
            f"bytes: {reason}",
            function=function,
            max_memory=limits.max_memory,
            **context,
        )
    if failure.exit_code is not None:
        return Trap(
            f"{function} exited with status {failure.exit_code}",
            kind=EXIT,
            exit_code=failure.exit_code,
            function=function,
            **context,
        )
    if failure.instantiating and code is None:
        return _refused_instance(function, limits, footprint, reason, context)
    kind = TRAP_KINDS.get(code, UNKNOWN) if code is not None else UNKNOWN
    return Trap(f"{function} trapped: {reason}", kind=kind, function=function, **context)


def _refused_instance(
    function: str, limits: Limits, footprint: Footprint, reason: str, context: dict[str, object]
) -> ExecutionError:
    needed = footprint.memory_bytes()
    if needed > limits.max_memory:
        return MemoryLimitExceeded(
            f"the module of {function} needs {needed} bytes of memory to start; "
            f"the limit is {limits.max_memory} bytes",
            function=function,
            max_memory=limits.max_memory,
            requested=needed,
            **context,
        )
    elements = max(footprint.table_elements, default=0)
    if elements > limits.max_table_elements:
        return MemoryLimitExceeded(
            f"the module of {function} needs a table of {elements} elements to start; "
            f"the limit is {limits.max_table_elements}",
            function=function,
            max_table_elements=limits.max_table_elements,
            **context,
        )
    return Trap(
        f"{function} could not be instantiated: {reason}",
        kind=UNKNOWN,
        function=function,
        **context,
    )


def _trap_code(value: int | None) -> TrapCode | None:
    if value is None:
        return None
    try:
        return TrapCode(value)
    except ValueError:
        return None
