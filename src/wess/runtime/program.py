"""Programs and their functions: what a caller holds after ``Runtime.load``.

A ``Program`` is a compiled, linked module; ``Program.function(name)`` gives a
``Function`` whose argument decoder, result encoder and caller were built once.
Every call runs in a fresh Store and instance, so no state survives between calls.
``Function.invoke`` may be called from many threads at once: wasmtime releases the
GIL while guest code runs, so long calls on different threads run in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from wess.errors import FunctionNotFound, InvalidRequest
from wess.models import FunctionSignature
from wess.runtime.analysis import ModuleAnalysis, is_command_entry
from wess.runtime.codec import Decoder, JsonValue, Number, decoder_for
from wess.runtime.command_io import CommandInput
from wess.runtime.compiled import Compiled
from wess.runtime.component import CompiledComponent
from wess.runtime.invocation import Caller, Invocation
from wess.runtime.limits import Limits
from wess.runtime.reasons import clipped, listed

CallerFactory = Callable[[Compiled | CompiledComponent, FunctionSignature], Caller]


class RuntimeState:
    """What a Program needs from its Runtime: the default limits and whether it is open."""

    __slots__ = ("closed", "limits")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.closed = False


class Function:
    """One callable export. ``fn(1, 2)`` returns the results; ``fn.invoke`` returns an
    ``Invocation`` with timings, fuel and captured output."""

    __slots__ = ("_call", "_decode", "_state", "name", "signature")

    def __init__(
        self,
        signature: FunctionSignature,
        caller: Caller,
        state: RuntimeState,
        *,
        decode: Decoder | None = None,
    ) -> None:
        self.name = signature.name
        self.signature = signature
        self._decode = decode if decode is not None else decoder_for(signature)
        self._call = caller
        self._state = state

    def __call__(self, *args: object) -> list[JsonValue]:
        state = self._state
        if state.closed:
            raise RuntimeError("the runtime is closed")
        return self._call(self._decode(args), state.limits).results

    def __repr__(self) -> str:
        return f"<Function {self.signature.describe()}>"

    @property
    def call_path(self) -> str:
        """``"fast"`` (wasmtime's C API), ``"documented"`` (wasmtime-py, for WASI) or
        ``"component"``."""
        return self._call.path

    def decode(self, args: object) -> Sequence[Number]:
        """The wasm values for JSON ``args``; ``InvalidArguments`` if they do not fit."""
        return self._decode(args)

    def invoke(self, args: object, *, limits: Limits | None = None) -> Invocation:
        """Call with JSON ``args`` under ``limits`` (the Runtime's when None).

        The limits are applied as given; build lowered ones with ``Limits.narrowed``.
        """
        return self.invoke_values(self._decode(args), limits=limits)

    @property
    def is_command(self) -> bool:
        """Whether this is a command's ``_start``, run with ``run_command``."""
        return is_command_entry(self.signature)

    def run_command(
        self, command: CommandInput | None = None, *, limits: Limits | None = None
    ) -> Invocation:
        """Run this command's ``_start`` with ``command``'s stdin, argv and env; its
        exit status is ``exit_code`` (0 unless it called ``proc_exit``), its output in
        ``stdout``/``stderr``."""
        state = self._state
        if state.closed:
            raise RuntimeError("the runtime is closed")
        run = getattr(self._call, "command", None)
        if run is None or not self.is_command:
            raise InvalidRequest(
                f"{self.name} is not a command's entry point: a command exports _start() -> ()"
            )
        given = command if command is not None else CommandInput()
        result: Invocation = run(given, limits if limits is not None else state.limits)
        return result

    def invoke_values(
        self, values: Sequence[Number], *, limits: Limits | None = None
    ) -> Invocation:
        """Call with values already decoded by ``decode``."""
        state = self._state
        if state.closed:
            raise RuntimeError("the runtime is closed")
        return self._call(values, limits if limits is not None else state.limits)


class Program:
    """A validated, compiled and linked module, shared by every call of it.

    ``on_function`` hears of each ``Function`` made (the Runtime counts its memory).
    """

    def __init__(
        self,
        compiled: Compiled | CompiledComponent,
        callers: CallerFactory,
        state: RuntimeState,
        *,
        on_function: Callable[[Program], None] | None = None,
    ) -> None:
        self._compiled = compiled
        self._callers = callers
        self._state = state
        self._on_function = on_function
        self._by_name = {f.name: f for f in compiled.analysis.functions}
        self._functions: dict[str, Function] = {}
        self.functions: Mapping[str, FunctionSignature] = MappingProxyType(self._by_name)
        self.links: Mapping[str, Program] = MappingProxyType({})
        """The programs of the modules it links, by the name its imports use
        (``Runtime.link``); empty for a module that links none."""

    def __repr__(self) -> str:
        return f"<Program {self.digest} functions={list(self._by_name)}>"

    @property
    def digest(self) -> str:
        return self._compiled.digest

    @property
    def analysis(self) -> ModuleAnalysis:
        return self._compiled.analysis

    @property
    def compiled(self) -> Compiled | CompiledComponent:
        return self._compiled

    def function(self, name: str) -> Function:
        """The callable export ``name``; ``FunctionNotFound`` if there is none."""
        function = self._functions.get(name)
        if function is not None:
            return function
        signature = self._by_name.get(name)
        if signature is None:
            raise self._not_found(name)
        caller = self._callers(self._compiled, signature)
        # a component's caller brings its own decoder (component_values)
        decode: Decoder | None = getattr(caller, "decode", None)
        function = Function(signature, caller, self._state, decode=decode)
        kept = self._functions.setdefault(name, function)
        if kept is function and self._on_function is not None:
            self._on_function(self)
        return kept

    def _not_found(self, name: str) -> FunctionNotFound:
        callable_names = listed(self._by_name)
        shown = repr(clipped(name))  # the caller's: bounded
        if name in self._compiled.exports and isinstance(self._compiled, CompiledComponent):
            return FunctionNotFound(
                f"the export {shown} is not callable: its values (resources, streams, "
                f"futures) cannot be passed as JSON; callable: {callable_names}",
                function=name,
            )
        if name in self._compiled.exports:
            return FunctionNotFound(
                f"the export {shown} is not callable: Wess calls functions whose "
                f"parameters and results are all i32, i64, f32 or f64; callable: "
                f"{callable_names}",
                function=name,
            )
        return FunctionNotFound(
            f"the module exports no function {shown}; callable: {callable_names}", function=name
        )
