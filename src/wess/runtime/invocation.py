"""One call's result, and the shape both call paths share.

A call path turns a compiled module and one of its functions into a ``Caller``:
``sandbox.Sandbox`` through wasmtime-py's documented API, ``fastcall.FastPath``
through wasmtime's C API. Both give identical results and raise identical errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from wess.runtime.codec import JsonValue, Number
from wess.runtime.command_io import CommandInput, CommandOutput
from wess.runtime.engine import UNMETERED_FUEL, EpochTicker
from wess.runtime.guestio import LogLine
from wess.runtime.limits import Limits


class Invocation(NamedTuple):
    """What one call returned.

    ``results`` are JSON-safe; ``duration_us`` covers instantiation and the call,
    ``instantiate_us`` the instantiation alone (the start of ``duration_us``);
    ``fuel_used`` is None unless a fuel limit applied; ``stdout``/``stderr`` hold what
    a WASI guest wrote, up to ``max_output`` bytes each, and ``output_truncated`` says
    some was dropped (``stdout_truncated``, ``stderr_truncated``: which). ``exit_code``
    is a command's exit status (None for a function call); ``logs`` the lines it kept
    through ``wess:log@1`` and ``logs_dropped`` those past the bound. A NamedTuple
    rather than a frozen dataclass: it is built on every call, and costs a third as
    much to build.
    """

    results: list[JsonValue]
    duration_us: int
    fuel_used: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    output_truncated: bool = False
    exit_code: int | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    logs: tuple[LogLine, ...] = ()
    logs_dropped: int = 0
    instantiate_us: int = 0

    def output(self) -> CommandOutput:
        """A command's output as the value every kind of command answers with."""
        return CommandOutput(
            stdout=self.stdout,
            stderr=self.stderr,
            exit_code=self.exit_code or 0,
            stdout_truncated=self.stdout_truncated,
            stderr_truncated=self.stderr_truncated,
        )


class Caller(Protocol):
    """Runs one function in a fresh instance under ``limits``; ``path`` names how."""

    path: str

    def __call__(self, values: Sequence[Number], limits: Limits) -> Invocation: ...


class CommandCaller(Caller, Protocol):
    """A caller that also runs a command's ``_start`` with its input (``sandbox``)."""

    def command(self, command: CommandInput, limits: Limits) -> Invocation: ...


class Budgets:
    """The fuel and epoch deadline a Store gets for some limits.

    Remembers the last limits seen, so calls under the same limits (the common case)
    skip the arithmetic.
    """

    def __init__(self, ticker: EpochTicker) -> None:
        self._ticker = ticker
        self._last: tuple[Limits | None, int, int] = (None, 0, 0)
        self.longest = 0
        """The most ticks any Store was given: enough epochs to interrupt every call."""

    def of(self, limits: Limits) -> tuple[int, int]:
        last = self._last
        if last[0] is limits:
            return last[1], last[2]
        fuel = limits.fuel if limits.fuel is not None else UNMETERED_FUEL
        ticks = self._ticker.deadline_ticks(limits.timeout_ms)
        self.longest = max(self.longest, ticks)
        self._last = (limits, fuel, ticks)
        return fuel, ticks
