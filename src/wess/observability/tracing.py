"""OpenTelemetry traces: one per request, with a span per step that takes time.

``Tracing`` is what the parts of Wess that make spans are given (None where tracing is
off: they then make none, at the cost of one ``is None`` check). A request's server
span is opened by the HTTP layer (``wess.api.tracing``) from the W3C ``traceparent``
the client sent, if any, and made current; every span below it (auth, rate limit,
cache lookup, storage read and write, compile, instantiate, execute) is its child
through the context, which asyncio copies into the tasks a request starts. Work done
on a thread (a call's instantiate and execute) is recorded afterwards from its own
clock readings, under the request's span, so no context needs to cross threads.

A span is made only under a recording parent: a request sampled out costs a
non-recording server span and nothing per step. Errors set the span's status and
``error.type`` (the Wess error code), never an exception event with a traceback:
tracebacks go to the log only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from wess.errors import WessError

NO_SPAN: Final = contextlib.nullcontext(None)
"""What ``Tracing.span`` gives where no span is made: ``with`` it yields None."""
TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})
SCOPE_NAME = "wess"

Attributes = Mapping[str, str | bool | int | float]


class Tracing:
    """Makes the spans of Wess with one tracer of ``provider``."""

    def __init__(self, provider: trace.TracerProvider, *, version: str) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer(SCOPE_NAME, version)
        self._propagator = TraceContextTextMapPropagator()

    def request(
        self, method: str, headers: Iterable[tuple[bytes, bytes]], attributes: Attributes
    ) -> RequestSpan:
        """Open (and make current) the server span of a request; its parent is the
        client's ``traceparent`` when it sent a valid one."""
        carrier: dict[str, str] = {}
        for name, value in headers:
            if name in TRACE_HEADERS:
                carrier[name.decode()] = value.decode("latin-1")
        parent = self._propagator.extract(carrier) if carrier else None
        span = self._tracer.start_span(
            method, context=parent, kind=SpanKind.SERVER, attributes=attributes
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return RequestSpan(span, token)

    def span(self, name: str, attributes: Attributes | None = None) -> Any:
        """A context manager for a child span of the current one (yielding the span),
        or ``NO_SPAN`` (yielding None) when the current span is not recorded."""
        if not trace.get_current_span().is_recording():
            return NO_SPAN
        return ActiveSpan(self._tracer.start_span(name, attributes=attributes))

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
        elsewhere (on a thread); nothing when the current span is not recorded."""
        if not trace.get_current_span().is_recording():
            return
        span = self._tracer.start_span(name, attributes=attributes, start_time=start_ns)
        if error is not None:
            _failed(span, error)
        span.end(end_time=end_ns)

    def recording(self) -> bool:
        """Whether spans made now are kept (the current request is sampled)."""
        return trace.get_current_span().is_recording()


class RequestSpan:
    """A request's open server span; ``end`` closes it and restores the context."""

    __slots__ = ("span", "token", "trace_id")

    def __init__(self, span: Span, token: object) -> None:
        self.span = span
        self.token = token
        self.trace_id = trace_id_of(span)

    def end(self, *, status: int, route: str | None, method: str) -> None:
        span = self.span
        if span.is_recording():
            span.update_name(f"{method} {route}" if route else method)
            span.set_attribute("http.response.status_code", status)
            if route:
                span.set_attribute("http.route", route)
            if status >= 500:  # a 4xx is the client's: not an error of the server span
                span.set_attribute("error.type", str(status))
                span.set_status(Status(StatusCode.ERROR))
        span.end()
        otel_context.detach(self.token)  # type: ignore[arg-type]


class ActiveSpan:
    """A child span made current for a ``with`` block; an exception leaving the block
    marks it failed (with the Wess error code) and goes on."""

    __slots__ = ("span", "token")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.token: object = None

    def __enter__(self) -> Span:
        self.token = otel_context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            _failed(self.span, error_type(exc))
        self.span.end()
        otel_context.detach(self.token)  # type: ignore[arg-type]


def error_type(exc: BaseException) -> str:
    """``error.type`` of a failure: the Wess error code, else the exception's class."""
    return exc.code if isinstance(exc, WessError) else type(exc).__qualname__


def trace_id_of(span: Span) -> str | None:
    """The span's trace id as 32 hex digits (None for an invalid span)."""
    context = span.get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _failed(span: Span, error: str) -> None:
    span.set_attribute("error.type", error)
    span.set_status(Status(StatusCode.ERROR, error))
