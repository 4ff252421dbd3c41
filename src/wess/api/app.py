"""``create_app``: the ASGI application of Wess (routes, middleware, error mapping)."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

import wess
from wess.api import (
    admin,
    batches,
    docs,
    invocations,
    kv,
    legacy,
    openapi,
    ops,
    problems,
    revisions,
    v1,
)
from wess.api.answers import error_response
from wess.api.fastlane import RunRoutes
from wess.api.middleware import RequestContext, answer_unexpected, request_id_of, trace_id_of
from wess.api.sites import SiteCheck, SitePolicy
from wess.api.state import ApiState
from wess.api.tracing import TracedRequests
from wess.errors import InvalidRequest, MethodNotAllowed, NotFound, WessError
from wess.observability.logging import AccessLog
from wess.observability.metrics import Metrics
from wess.runtime.reasons import listed

logger = structlog.get_logger("wess.http")

DESCRIPTION = (
    "Wess stores WebAssembly modules and runs their functions on request, each call in a "
    "fresh sandbox with memory, time and fuel limits. Errors are RFC 9457 problem "
    "documents with a stable `code`. The original Wess API (paths at the root) is kept for "
    "existing clients."
)

ROUTERS = (
    ops.router,
    docs.router,
    admin.router,
    v1.router,
    revisions.router,
    batches.router,
    invocations.router,
    kv.router,
    legacy.router,
)
"""In matching order: the original API's catch-all ``/{module_id}`` comes last."""


def create_app(
    state: ApiState, *, sites: SitePolicy, access_log: AccessLog | None = None
) -> ASGIApp:
    """Build the app around ``state``, whose live resources the caller opened (the
    composition root opens them before serving and closes them after, so a store that
    cannot open stops start-up with a clear message instead of a half-started server).

    The outermost layer gives every request its id, metrics and access log; the next
    refuses foreign hosts and origins (``sites``), on every route; plain run requests,
    which users hammer, go from ``RunRoutes`` straight to their route's endpoint;
    everything else goes through FastAPI (the run routes included). With tracing on,
    ``TracedRequests`` opens each request's server span just inside the outermost layer.
    """
    api = build_api(state)
    app: ASGIApp = SiteCheck(RunRoutes(api), policy=sites, metrics=state.metrics)
    if state.tracing is not None:  # left out when off: nothing to pay per request
        app = TracedRequests(app, tracing=state.tracing)
    return RequestContext(app, metrics=state.metrics, access_log=access_log, node=state.node)


def build_api(state: ApiState) -> FastAPI:
    """The FastAPI application: every route, its OpenAPI description, error mapping.

    No redirects for a trailing slash: Starlette builds them from the request's own
    ``Host``, so ``/v1/modules/`` with ``Host: evil.example`` would send the client
    there. A path with a slash too many is a 404 like any path no route matches.
    """
    metrics = state.metrics
    app = FastAPI(
        title="Wess",
        version=wess.__version__,
        description=DESCRIPTION,
        docs_url=None,  # served by ``docs`` from the package, not from a CDN
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.wess = state
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(WessError, _on_wess_error(metrics))  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http_exception(metrics))  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error(metrics))  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected(metrics))
    openapi.install(app, [route for router in ROUTERS for route in router.routes])
    return app


def _on_wess_error(metrics: Metrics) -> Callable[[Request, WessError], Response]:
    def handle(request: Request, exc: WessError) -> Response:
        return error_response(request.scope, exc, metrics)

    return handle


def _on_http_exception(metrics: Metrics) -> Callable[[Request, HTTPException], Response]:
    def handle(request: Request, exc: HTTPException) -> Response:
        error: WessError
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            error = MethodNotAllowed(
                f"{request.method} is not allowed on {request.url.path}; "
                f"allowed: {', '.join(allowed)}"
            )
        elif exc.status_code == 404:
            error = NotFound(f"no route matches {request.url.path}")
        else:
            error = InvalidRequest(str(exc.detail))
        return error_response(request.scope, error, metrics, headers=headers)

    return handle


def _on_unexpected(metrics: Metrics) -> Callable[[Request, Exception], Response]:
    """Starlette's outermost error layer answers with this, then re-raises."""

    def handle(request: Request, exc: Exception) -> Response:
        answer_unexpected(request.scope, exc, metrics)
        return problems.problem_response(
            exc, request_id=request_id_of(request.scope), trace_id=trace_id_of(request.scope)
        )

    return handle


def _on_validation_error(metrics: Metrics) -> Callable[[Request, RequestValidationError], Response]:
    def handle(request: Request, exc: RequestValidationError) -> Response:
        details = listed(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return error_response(
            request.scope, InvalidRequest(f"the request is invalid: {details}"), metrics
        )

    return handle


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route offers on this path (Starlette's 405 names only one
    route's methods, and /v1/modules has a route per method)."""
    allowed: set[str] = set()
    path = request.url.path
    for route in (r for router in ROUTERS for r in router.routes):
        regex = getattr(route, "path_regex", None)
        methods = getattr(route, "methods", None)
        if regex is not None and methods and regex.match(path):
            allowed |= set(methods)
    return sorted(allowed)
