"""Pure ASGI middleware: request ids, per-route metrics, access log, the error boundary.

Written as plain ASGI callables (not ``BaseHTTPMiddleware``) so the invoke hot path
pays for one function frame, not for an extra task and memory streams per request.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wess.api import problems
from wess.api.bodies import ClientGone
from wess.observability.logging import AccessLog
from wess.observability.metrics import Metrics

logger = structlog.get_logger("wess.http")

REQUEST_ID_HEADER = b"x-request-id"
NODE_HEADER = b"x-wess-node"
"""Names the node that answered (several may serve one store behind a balancer)."""
REQUEST_ID_SCOPE_KEY = "wess.request_id"
ANSWERED_SCOPE_KEY = "wess.unexpected_error_answered"
TRACE_ID_SCOPE_KEY = "wess.trace_id"
"""The request's trace id, set by ``wess.api.tracing`` while tracing is on."""
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
"""Sent on every HTTPS response: browsers then refuse plain HTTP for a year."""
REQUEST_ID_FORM = re.compile(rb"[A-Za-z0-9._-]{1,64}")
"""A client's ``X-Request-ID`` is kept when it is 1 to 64 of these characters (a UUID, a
trace id); anything else gets an id of ours, so a client cannot write line breaks,
escape sequences or a megabyte into logs, audit entries and problem documents."""
UNMATCHED_ROUTE = "<unmatched>"


def answer_unexpected(scope: Scope, exc: BaseException, metrics: Metrics) -> None:
    """Log an exception Wess did not raise on purpose, with its traceback, and count it."""
    scope[ANSWERED_SCOPE_KEY] = True
    logger.error("unhandled error", path=scope.get("path"), exc_info=exc)
    metrics.errors.labels(code=problems.code_of(exc)).inc()


def request_id_of(scope: Scope) -> str:
    """The id of the request being handled (set by ``RequestContext``)."""
    return str(scope.get(REQUEST_ID_SCOPE_KEY, "-"))


def trace_id_of(scope: Scope) -> str | None:
    """The trace id of the request being handled (None while tracing is off)."""
    trace_id: str | None = scope.get(TRACE_ID_SCOPE_KEY)
    return trace_id


class RequestContext:
    """Gives every request an id (the client's ``X-Request-ID`` when it is sane), binds
    it to the log context, echoes it in the response, records route metrics and the
    access log, and turns an unexpected exception into a bare 500 whose traceback goes
    only to the log."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        access_log: AccessLog | None = None,
        node: str | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self._ids = RequestIds()
        self._node = node
        self._node_header = () if node is None else ((NODE_HEADER, node.encode()),)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or self._ids.next()
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        # uvicorn runs each request in its own task, whose context is a copy: clearing
        # first keeps one request's fields out of the next where a task serves several.
        structlog.contextvars.clear_contextvars()
        if self._node is None:
            structlog.contextvars.bind_contextvars(request_id=request_id)
        else:
            structlog.contextvars.bind_contextvars(request_id=request_id, node=self._node)
        extra = [(REQUEST_ID_HEADER, request_id.encode()), *self._node_header]
        if scope.get("scheme") == "https":
            extra.append(HSTS)
        status = 500
        started = False
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientGone:
            status = 499  # nginx's "client closed request": nobody is waiting for an answer
        except Exception as exc:
            if not scope.get(ANSWERED_SCOPE_KEY):  # FastAPI's handler answered and logged it
                answer_unexpected(scope, exc, self.metrics)
            if not started:
                response = problems.problem_response(
                    exc, request_id=request_id, trace_id=trace_id_of(scope)
                )
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = route_template(scope)
            method = scope["method"]
            self.metrics.observe_request(method, route, status, elapsed)
            if self.access_log is not None:
                self.access_log(
                    method=method,
                    route=route,
                    path=scope.get("path"),
                    status=status,
                    duration_ms=round(elapsed * 1000, 3),
                )


class RequestIds:
    """Request ids: 32 hex digits, a random prefix per process and a counter.

    Unique without asking the kernel for randomness on every request (``uuid4`` reads
    ``/dev/urandom`` each time, a measurable cost on the hot path here).
    """

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):020x}"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode() if REQUEST_ID_FORM.fullmatch(value) else None
    return None


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``UNMATCHED_ROUTE`` if none did)."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE
