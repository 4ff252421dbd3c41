"""Failures: every trap kind, timeouts, fuel, memory limits both ways, clean details."""

from __future__ import annotations

import threading
import time

import pytest
import wasmtime

from tests.fixtures import wasm
from wess.errors import ExecutionTimeout, MemoryLimitExceeded, Trap
from wess.runtime import Limits, Runtime

PAGE = 1 << 16


@pytest.mark.parametrize(
    ("module", "function", "args", "kind"),
    [
        ("traps", "unreachable", [], "unreachable"),
        ("traps", "div", [1, 0], "integer_divide_by_zero"),
        ("traps", "overflow", [], "integer_overflow"),
        ("traps", "recurse", [0], "stack_overflow"),
        ("traps", "oob", [], "memory_out_of_bounds"),
        ("indirect", "call", [5], "table_out_of_bounds"),
        ("indirect", "call", [1], "indirect_call_to_null"),
        ("indirect", "bad_signature", [], "bad_signature"),
        ("indirect", "truncate", ["NaN"], "bad_conversion_to_integer"),
        ("indirect", "truncate", [1e10], "integer_overflow"),
    ],
)
def test_trap_kinds(
    runtime: Runtime, module: str, function: str, args: list[object], kind: str
) -> None:
    """Each way a guest traps raises Trap with the kind that names it."""
    with pytest.raises(Trap) as caught:
        runtime.load(wasm(module)).function(function).invoke(args)
    assert caught.value.kind == kind
    assert caught.value.context["kind"] == kind
    assert caught.value.detail.startswith(f"{function} trapped: ")


def test_details_carry_no_backtrace(runtime: Runtime) -> None:
    """Details quote wasmtime's reason without its wasm backtrace or any traceback."""
    with pytest.raises(Trap) as caught:
        runtime.load(wasm("traps")).function("recurse")(0)
    assert caught.value.detail == "recurse trapped: call stack exhausted."
    assert "Traceback" not in str(caught.value)
    assert "backtrace" not in str(caught.value)


def test_out_of_fuel(runtime: Runtime) -> None:
    """A call that spends its fuel traps with kind out_of_fuel."""
    with pytest.raises(Trap) as caught:
        runtime.load(wasm("traps")).function("spin").invoke([], limits=Limits(fuel=10_000))
    assert caught.value.kind == "out_of_fuel"
    assert "10000" in caught.value.detail


def test_timeout_interrupts_a_spinning_guest(runtime: Runtime) -> None:
    """An endless loop is interrupted by the epoch deadline: ExecutionTimeout names the
    limit (not a Trap)."""
    with pytest.raises(ExecutionTimeout, match="time limit of 30 ms") as caught:
        runtime.load(wasm("traps")).function("spin").invoke([], limits=Limits(timeout_ms=30))
    assert caught.value.context["timeout_ms"] == 30


def test_memory_below_the_minimum_refuses_instantiation(runtime: Runtime) -> None:
    """A module whose memory minimum exceeds max_memory is refused before it runs."""
    grow = runtime.load(wasm("traps")).function("grow")
    with pytest.raises(MemoryLimitExceeded, match="needs 65536 bytes of memory to start"):
        grow.invoke([1], limits=Limits(max_memory=PAGE - 1))


def test_refused_grow_then_trap_is_a_memory_limit(runtime: Runtime) -> None:
    """A guest that traps after the limiter refused its memory.grow gets
    MemoryLimitExceeded, even when the refused grow was far beyond the remaining room."""
    grow = runtime.load(wasm("traps")).function("grow")
    with pytest.raises(MemoryLimitExceeded) as caught:
        grow.invoke([100], limits=Limits(max_memory=4 * PAGE))
    assert caught.value.context["requested"] == 101 * PAGE
    assert caught.value.context["max_memory"] == 4 * PAGE


def test_grow_within_the_limit_succeeds(runtime: Runtime) -> None:
    """Growing up to exactly the limit is allowed and reports the new size."""
    grow = runtime.load(wasm("traps")).function("grow")
    assert grow.invoke([3], limits=Limits(max_memory=4 * PAGE)).results == [4]


def test_refused_grow_the_guest_survives_is_not_an_error(runtime: Runtime) -> None:
    """A refused grow the guest handles (memory.grow returned -1) is just a result."""
    grow = runtime.load(wasm("kitchen_sink")).function("grow")
    assert grow.invoke([50], limits=Limits(max_memory=2 * PAGE)).results == [-1]


GC_HOG = bytes(
    wasmtime.wat2wasm("""(module
  (type $arr (array (mut i64)))
  (type $list (struct (field (ref null $arr)) (field (ref null $list))))
  (func (export "hog") (param $n i32) (result i32) (local $i i32) (local $l (ref null $list))
    (loop $more
      (local.set $l (struct.new $list (array.new_default $arr (i32.const 100000)) (local.get $l)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i)))""")
)


def test_gc_heap_is_bounded_by_the_memory_limit(runtime: Runtime) -> None:
    """GC allocations count against max_memory: exhausting it is MemoryLimitExceeded,
    and the same work fits under a larger limit."""
    hog = runtime.load(GC_HOG).function("hog")
    with pytest.raises(MemoryLimitExceeded, match="GC heap"):
        hog.invoke([100], limits=Limits(max_memory=8 << 20))
    assert hog.invoke([10], limits=Limits(max_memory=64 << 20)).results == [10]


def test_unrelated_trap_after_no_refusal_keeps_its_kind(runtime: Runtime) -> None:
    """A trap with no refused grow before it stays a Trap even with a tight limit."""
    with pytest.raises(Trap) as caught:
        runtime.load(wasm("traps")).function("unreachable").invoke(
            [], limits=Limits(max_memory=PAGE)
        )
    assert caught.value.kind == "unreachable"


def test_close_interrupts_a_running_call() -> None:
    """Closing the runtime interrupts calls still running instead of leaving them
    without a ticker."""
    rt = Runtime(limits=Limits(timeout_ms=60_000))
    spin = rt.load(wasm("traps")).function("spin")
    errors: list[BaseException] = []
    calling = threading.Event()

    def call() -> None:
        calling.set()
        try:
            spin()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    calling.wait()
    time.sleep(0.05)  # let it get into the guest; not a timing assertion
    rt.close()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], ExecutionTimeout)
