"""Pure ASGI middleware: request ids, per-route metrics, access log, the error boundary.

Written as plain ASGI callables (not ``BaseHTTPMiddleware``) so the invoke hot path
pays for one function frame, not for an extra task and memory streams per request.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wess.api import problems
from wess.observability.metrics import Metrics

logger = structlog.get_logger("wess.http")

REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_SCOPE_KEY = "wess.request_id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED_ROUTE = "<unmatched>"


def request_id_of(scope: Scope) -> str:
    """The id of the request being handled (set by ``RequestContext``)."""
    return str(scope.get(REQUEST_ID_SCOPE_KEY, "-"))


class RequestContext:
    """Gives every request an id (the client's ``X-Request-ID`` when it is sane), binds
    it to the log context, echoes it in the response, records route metrics and the
    access log, and turns an unexpected exception into a bare 500 whose traceback goes
    only to the log."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, access_log: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        header = (REQUEST_ID_HEADER, request_id.encode())
        status = 500
        started = False
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            logger.exception("unhandled error", path=scope.get("path"))
            self.metrics.errors.labels(code=problems.code_of(exc)).inc()
            if not started:
                response = problems.problem_response(exc, request_id=request_id)
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.http_requests.labels(method=method, route=route, status=status).inc()
            self.metrics.http_latency.labels(method=method, route=route).observe(elapsed)
            if self.access_log:
                logger.info(
                    "request",
                    method=method,
                    route=route,
                    path=scope.get("path"),
                    status=status,
                    duration_ms=round(elapsed * 1000, 3),
                )
            structlog.contextvars.clear_contextvars()


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode() if _VALID_REQUEST_ID.match(value) else None
    return None


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE
