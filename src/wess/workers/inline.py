"""The inline lane: short calls run on the event loop, under a small fuel budget.

Handing a call to a pool thread and back costs tens of microseconds, several times
what a small function costs to run (a fresh instance and a call of ``sum`` take about
5 µs). So the Runner first tries each call right on the event loop with its fuel
capped at ``inline_fuel`` (100,000 instructions, about 70 µs of guest time here). A
call that finishes within it is done. One that runs out is thrown away and run again
from the start on the pool, under its real limits: every call runs in a fresh
instance, so the abandoned attempt leaves nothing behind (its captured output is
dropped; ``env.randomi32`` draws new numbers). The event loop is therefore never
blocked for more than one budget, and a function that keeps running past it is not
tried inline again for its next ``SKIP_AFTER_MISS`` calls, so slow functions do not
pay for the attempt on every call.

Only calls on the fast path are tried inline: WASI functions (the documented path)
do host I/O and always go to the pool.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from wess.errors import Trap, WessError
from wess.observability.metrics import Metrics
from wess.runtime import Function, Invocation, Limits
from wess.runtime.codec import Number

SKIP_AFTER_MISS = 32
OUT_OF_FUEL = "out_of_fuel"


class InlineLane:
    """Decides, per call, whether to run inline, and runs it there if so."""

    def __init__(self, inline_fuel: int, metrics: Metrics) -> None:
        if inline_fuel < 0:
            raise ValueError("inline_fuel must be >= 0")
        self._fuel = inline_fuel
        self._skips: dict[tuple[str, str], int] = {}
        self._last: tuple[Limits | None, Limits | None] = (None, None)
        self._missed = metrics.inline_fallbacks

    def attempt(
        self, digest: str, target: Function, values: Sequence[Number], limits: Limits
    ) -> tuple[Invocation | WessError, float] | None:
        """The outcome and its seconds, or None when the call must go to the pool."""
        if not self._fuel or target.call_path != "fast":
            return None
        key = (digest, target.name)
        skips = self._skips.get(key)
        if skips is not None:
            if skips > 1:
                self._skips[key] = skips - 1
            else:
                del self._skips[key]
            return None
        budget = self._budget(limits)
        final = limits.fuel is not None and limits.fuel <= self._fuel
        start = time.perf_counter()
        try:
            result: Invocation | WessError = target.invoke_values(values, limits=budget)
        except Trap as trap:
            if trap.kind == OUT_OF_FUEL and not final:
                self._skips[key] = SKIP_AFTER_MISS
                self._missed.inc()
                return None
            result = trap
        except WessError as error:
            result = error
        seconds = time.perf_counter() - start
        if isinstance(result, Invocation) and limits.fuel is None:
            result = result._replace(fuel_used=None)  # the budget was ours, not the caller's
        return result, seconds

    def _budget(self, limits: Limits) -> Limits:
        """``limits`` with fuel capped at the inline budget (remembered for the last one)."""
        last, budget = self._last
        if last is limits and budget is not None:
            return budget
        fuel = self._fuel if limits.fuel is None else min(limits.fuel, self._fuel)
        budget = replace(limits, fuel=fuel)
        self._last = (limits, budget)
        return budget
