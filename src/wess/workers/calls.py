"""One call as a pool thread makes it: the time limit cut to what the request's deadline
leaves, the error returned rather than raised, the time taken, and the spans of the
call (instantiate, execute) recorded afterwards from that thread's clock readings."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from wess.errors import ExecutionError, ExecutionTimeout, MemoryLimitExceeded, Trap, WessError
from wess.observability.tracing import Tracing
from wess.runtime import Function, Invocation, Limits
from wess.runtime.codec import Number
from wess.runtime.command_io import CommandInput
from wess.runtime.kv import KvAccess, KvSlot
from wess.workers.deadline import EXECUTION, QUEUE, Deadline


def violation_kind(error: ExecutionError) -> str:
    """The ``kind`` label of a sandbox violation: the trap kind, timeout or memory."""
    if isinstance(error, Trap):
        return error.kind
    if isinstance(error, MemoryLimitExceeded):
        return "memory"
    if isinstance(error, ExecutionTimeout):
        return "timeout"
    return error.code


def cut_to_deadline(limits: Limits, deadline: Deadline | None) -> tuple[Limits, bool]:
    """``limits`` with the time limit cut to the time ``deadline`` leaves, and whether
    it was cut; ``DeadlineExceeded`` (``queue``: the time went before the call could
    start) when none is left. Allocates only when it cuts."""
    if deadline is None:
        return limits, False
    left = deadline.remaining_ms()
    if left < 1:
        raise deadline.exceeded(QUEUE)
    if left < limits.timeout_ms:
        return replace(limits, timeout_ms=left), True
    return limits, False


def call_spans(
    tracing: Tracing,
    result: Invocation | WessError,
    function: str,
    *,
    start_ns: int,
    seconds: float,
) -> None:
    """The ``instantiate`` and ``execute`` spans of a finished call, from the clock
    readings of the thread that made it (instantiation is the call's first part)."""
    end_ns = start_ns + int(seconds * 1e9)
    attributes: dict[str, str | int] = {"wess.function": function}
    if isinstance(result, Invocation):
        middle = min(start_ns + result.instantiate_us * 1000, end_ns)
        if result.fuel_used is not None:
            attributes["wess.fuel_used"] = result.fuel_used
        tracing.record("instantiate", start_ns=start_ns, end_ns=middle)
        tracing.record("execute", start_ns=middle, end_ns=end_ns, attributes=attributes)
    else:  # where it failed is in the error; the call's whole time is the execute span's
        tracing.record(
            "execute", start_ns=start_ns, end_ns=end_ns, attributes=attributes, error=result.code
        )


def invoke_timed(
    started: list[int],
    call: Callable[[Limits], Invocation],
    limits: Limits,
    deadline: Deadline | None,
) -> tuple[Invocation | WessError, float]:
    """``invoke``, noting when it started (ns since the epoch) in ``started``."""
    started[0] = time.time_ns()
    return invoke(call, limits, deadline)


def call_values(target: Function, values: Sequence[Number], limits: Limits) -> Invocation:
    return target.invoke_values(values, limits=limits)


def with_kv(
    slot: KvSlot, access: KvAccess, call: Callable[[Limits], Invocation], limits: Limits
) -> Invocation:
    """``call(limits)`` with this thread's ``wess:kv@1`` slot holding ``access`` (the
    store of the call's namespace) for the call's length."""
    slot.current = access
    try:
        return call(limits)
    finally:
        slot.current = None


def call_command(target: Function, command: CommandInput, limits: Limits) -> Invocation:
    return target.run_command(command, limits=limits)


def invoke(
    call: Callable[[Limits], Invocation], limits: Limits, deadline: Deadline | None
) -> tuple[Invocation | WessError, float]:
    """Runs on a pool thread; returns the error instead of raising it, with the time.
    The time limit is cut to what ``deadline`` leaves when the call starts, and a call
    stopped by that cut is the deadline's (``execution``), not the module's timeout."""
    start = time.perf_counter()
    narrowed = False
    try:
        limits, narrowed = cut_to_deadline(limits, deadline)
        result: Invocation | WessError = call(limits)
    except WessError as exc:
        result = exc
    if narrowed and deadline is not None and isinstance(result, ExecutionTimeout):
        result = deadline.exceeded(EXECUTION)
    return result, time.perf_counter() - start
