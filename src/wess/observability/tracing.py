"""OpenTelemetry traces: one per request, with a span per step that takes time.

``Tracing`` is what the parts of Wess that make spans are given (None where tracing is
off: they then make none, at the cost of one ``is None`` check). A request's server
span is opened by the HTTP layer (``wess.api.tracing``) from the W3C ``traceparent``
the client sent, if any; every span below it (auth, rate limit, cache lookup, storage
read and write, compile, instantiate, execute) is its child through a context
variable, which asyncio copies into the tasks a request starts. Work done on a thread
(a call's instantiate and execute) is recorded afterwards from its own clock
readings, under the request's span, so no context needs to cross threads.

Spans are the SDK's: sampled by the rule of its ``ParentBased(TraceIdRatioBased)``
sampler (a caller's sampled flag followed; a new trace by its id's low 64 bits),
numbered like its random id generator does, each span handed to the configured span
processor (``wess.server.tracers.SpanBatcher``, or any of the SDK's) as the SDK's
``ReadableSpan`` when it ends. What is
not the SDK's is the bookkeeping while a span is open: a plain object with a dict of
attributes. The SDK's ``Tracer`` spends about ten times as long per span (a lock, a
sampling call and bounded attribute copies for each, then a copy when it ends),
which on a run request of a few hundred microseconds made tracing cost a third of
the throughput.

A span is made only under a sampled parent: a request sampled out costs its trace id
and nothing per step. Errors set the span's status and ``error.type`` (the Wess error
code), never an exception event with a traceback: tracebacks go to the log only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from contextvars import ContextVar, Token
from random import getrandbits
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from wess.errors import WessError

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.id_generator import IdGenerator

NO_SPAN: Final = contextlib.nullcontext(None)
"""What ``Tracing.span`` gives where no span is made: ``with`` it yields None."""
TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})
SCOPE_NAME = "wess"
SAMPLED = TraceFlags(TraceFlags.SAMPLED)
UNSET = Status(StatusCode.UNSET)
INTERNAL = SpanKind.INTERNAL

Attributes = dict[str, Any]
"""A span's attributes: a dict the span keeps (callers pass a fresh literal)."""


class Tracing:
    """Makes the spans of Wess: ``sampling_ratio`` of new traces sampled (a caller's
    choice followed), numbered by ``ids`` (random by default), each handed to
    ``processor`` when it ends, with ``resource``."""

    def __init__(
        self,
        *,
        processor: SpanProcessor,
        resource: Resource,
        version: str,
        sampling_ratio: float = 1.0,
        ids: IdGenerator | None = None,
    ) -> None:
        # the SDK, imported only by a server that traces (a tenth of a second)
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self.processor = processor
        self._hand_over = processor.on_end
        self._bound = TraceIdRatioBased.get_bound_for_rate(sampling_ratio)
        self._low_bits = TraceIdRatioBased.TRACE_ID_LIMIT
        self._resource = resource
        self._ids = ids  # None: random ids, drawn here (the SDK's generator, inlined)
        self._scope = InstrumentationScope(SCOPE_NAME, version)
        self._readable = ReadableSpan
        self._propagator = TraceContextTextMapPropagator()
        self._current: ContextVar[OpenSpan | None] = ContextVar("wess_span", default=None)

    def request(
        self, method: str, headers: Iterable[tuple[bytes, bytes]], attributes: Attributes
    ) -> RequestSpan:
        """Open (and make current) the server span of a request; its parent is the
        client's ``traceparent`` when it sent a valid one, whose sampling it follows.
        The span keeps ``attributes`` (not a copy)."""
        carrier: dict[str, str] = {}
        for name, value in headers:
            if name in TRACE_HEADERS:
                carrier[name.decode()] = value.decode("latin-1")
        parent: SpanContext | None = None
        if carrier:
            extracted = self._propagator.extract(carrier)
            parent = trace.get_current_span(extracted).get_span_context()
            if not parent.is_valid:
                parent = None
        if parent is not None:
            trace_id = parent.trace_id
            sampled = parent.trace_flags.sampled
        else:
            trace_id = self._trace_id()
            sampled = trace_id & self._low_bits < self._bound
        opened: OpenSpan | None = None
        if sampled:
            opened = OpenSpan(
                method,
                trace_id,
                self._span_id(),
                parent,
                SpanKind.SERVER,
                attributes,
                time.time_ns(),
                parent.trace_state if parent is not None else None,
            )
        token = self._current.set(opened)
        return RequestSpan(self, opened, token, format(trace_id, "032x"))

    def span(self, name: str, attributes: Attributes | None = None, *, leaf: bool = False) -> Any:
        """A context manager for a child span of the current one (yielding the open
        span), or ``NO_SPAN`` (yielding None) when the current request is not sampled.
        A ``leaf`` span has no children: it is not made current, which saves its cost."""
        parent = self._current.get()
        if parent is None:
            return NO_SPAN
        span = self._child(parent, name, attributes, time.time_ns())
        return LeafSpan(self, span) if leaf else ActiveSpan(self, span)

    def record(
        self,
        name: str,
        *,
        start_ns: int,
        end_ns: int,
        attributes: Attributes | None = None,
        error: str | None = None,
    ) -> None:
        """A finished child span of the current one, timed by clock readings taken
        elsewhere (on a thread); nothing when the current request is not sampled."""
        parent = self._current.get()
        if parent is None:
            return
        span = self._child(parent, name, attributes, start_ns)
        span.error = error
        self.finish(span, end_ns)

    def recording(self) -> bool:
        """Whether spans made now are kept (the current request is sampled)."""
        return self._current.get() is not None

    def finish(self, span: OpenSpan, end_ns: int) -> None:
        """Hand ``span``, ended at ``end_ns``, to the span processor."""
        if span.error is not None:
            span.attributes["error.type"] = span.error
            status = Status(StatusCode.ERROR, span.error)
        else:
            status = UNSET
        self._hand_over(
            self._readable(  # positionally: this runs for every span
                span.name,
                span.context,
                span.parent,
                self._resource,
                span.attributes,
                (),
                (),
                span.kind,
                None,
                status,
                span.start_ns,
                end_ns,
                self._scope,
            )
        )

    def enter(self, span: OpenSpan) -> Token[OpenSpan | None]:
        return self._current.set(span)

    def leave(self, token: Token[OpenSpan | None]) -> None:
        self._current.reset(token)

    def _child(
        self, parent: OpenSpan, name: str, attributes: Attributes | None, start_ns: int
    ) -> OpenSpan:
        return OpenSpan(
            name,
            parent.trace_id,
            self._span_id(),
            parent.context,
            INTERNAL,
            attributes if attributes is not None else {},  # a literal of the caller's: kept
            start_ns,
            parent.trace_state,
        )

    def _trace_id(self) -> int:
        while True:
            trace_id = self._ids.generate_trace_id() if self._ids is not None else getrandbits(128)
            if trace_id:
                return trace_id

    def _span_id(self) -> int:
        while True:  # zero is the invalid id
            span_id = self._ids.generate_span_id() if self._ids is not None else getrandbits(64)
            if span_id:
                return span_id


class OpenSpan:
    """A span being made: its identity, times and attributes, as plain values."""

    __slots__ = (
        "_context",
        "attributes",
        "error",
        "kind",
        "name",
        "parent",
        "span_id",
        "start_ns",
        "trace_id",
        "trace_state",
    )

    def __init__(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        start_ns: int,
        trace_state: Any,
    ) -> None:
        self.name = name
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent = parent
        self.kind = kind
        self.attributes = attributes
        self.start_ns = start_ns
        self.trace_state = trace_state
        self.error: str | None = None
        self._context: SpanContext | None = None

    @property
    def context(self) -> SpanContext:
        """This span's ``SpanContext`` (its children's parent), made once."""
        if self._context is None:
            self._context = SpanContext(
                self.trace_id,
                self.span_id,
                is_remote=False,
                trace_flags=SAMPLED,
                trace_state=self.trace_state,
            )
        return self._context

    def set_attribute(self, key: str, value: str | bool | int | float) -> None:
        self.attributes[key] = value


class RequestSpan:
    """A request's server span (None when it is not sampled) and its trace id; ``end``
    closes it and restores the context."""

    __slots__ = ("span", "token", "trace_id", "tracing")

    def __init__(
        self,
        tracing: Tracing,
        span: OpenSpan | None,
        token: Token[OpenSpan | None],
        trace_id: str,
    ) -> None:
        self.tracing = tracing
        self.span = span
        self.token = token
        self.trace_id = trace_id

    def end(self, *, status: int, route: str | None, method: str) -> None:
        span = self.span
        if span is not None:
            span.name = f"{method} {route}" if route else method
            span.attributes["http.response.status_code"] = status
            if route:
                span.attributes["http.route"] = route
            if status >= 500:  # a 4xx is the client's: not an error of the server span
                span.error = str(status)
            self.tracing.finish(span, time.time_ns())
        self.tracing.leave(self.token)


class ActiveSpan:
    """A child span made current for a ``with`` block; an exception leaving the block
    marks it failed (with the Wess error code) and goes on."""

    __slots__ = ("span", "token", "tracing")

    def __init__(self, tracing: Tracing, span: OpenSpan) -> None:
        self.tracing = tracing
        self.span = span

    def __enter__(self) -> OpenSpan:
        self.token = self.tracing.enter(self.span)
        return self.span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.tracing.leave(self.token)
        if exc is not None:
            self.span.error = error_type(exc)
        self.tracing.finish(self.span, time.time_ns())


class LeafSpan:
    """A child span around a ``with`` block that starts no span of its own: it is never
    made current. An exception leaving the block marks it failed and goes on."""

    __slots__ = ("span", "tracing")

    def __init__(self, tracing: Tracing, span: OpenSpan) -> None:
        self.tracing = tracing
        self.span = span

    def __enter__(self) -> OpenSpan:
        return self.span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.span.error = error_type(exc)
        self.tracing.finish(self.span, time.time_ns())


def error_type(exc: BaseException) -> str:
    """``error.type`` of a failure: the Wess error code, else the exception's class."""
    return exc.code if isinstance(exc, WessError) else type(exc).__qualname__
