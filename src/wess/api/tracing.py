"""The server span of each request, when tracing is on.

Sits just inside ``RequestContext`` (so the request id is known and the access log line
carries the trace id) and around everything else, the site check and the fast lane
included. Where tracing is off ``create_app`` leaves it out: the hot path pays nothing.
"""

from __future__ import annotations

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wess.api.bodies import ClientGone
from wess.api.middleware import TRACE_ID_SCOPE_KEY, request_id_of, route_template
from wess.observability.tracing import Tracing


class TracedRequests:
    """Opens the request's server span (a child of the client's ``traceparent``), binds
    its trace id to the log context and the scope (problem documents name it), and
    closes it with the route and status once the response is sent."""

    def __init__(self, app: ASGIApp, *, tracing: Tracing) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        attributes: dict[str, str | int] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
            "wess.request_id": request_id_of(scope),
        }
        client = scope.get("client")
        if client:
            attributes["client.address"] = str(client[0])
        request = self.tracing.request(method, scope["headers"], attributes)
        if request.trace_id is not None:
            scope[TRACE_ID_SCOPE_KEY] = request.trace_id
            structlog.contextvars.bind_contextvars(trace_id=request.trace_id)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except ClientGone:
            status = 499
            raise
        finally:
            request.end(status=status, route=route_template(scope), method=method)
