"""The run routes' fast lane: plain run requests skip FastAPI's routing.

``POST /v1/modules/{id}/run`` and the original ``POST /{id}`` are what users hammer.
Through FastAPI each request crosses its error and exception layers and a route match
against every route before it reaches its endpoint; here it costs a path check. The
request reaches the very endpoint FastAPI would have called (the ``RunRoute``'s
``runs.RunEndpoint``), with the same ``path_params`` and ``app`` in its scope, so it is
answered, measured and logged the same way.

Anything the fast lane does not recognise (another method, a trailing slash, an id of
another length, a path with more segments) goes through FastAPI unchanged, which
answers it with the same endpoint, or with its 404 or 405.
"""

from __future__ import annotations

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from wess.api import legacy, v1
from wess.api.runs import RunRoute

V1_PREFIX = "/v1/modules/"
V1_SUFFIX = "/run"
UUID_LENGTH = 36


def _run_route(router_routes: list[BaseRoute], path: str) -> RunRoute:
    for route in router_routes:
        if isinstance(route, RunRoute) and route.path == path:
            return route
    raise LookupError(f"no run route {path}")


class RunRoutes:
    """Hands plain run requests to their route's endpoint; passes every other request
    to ``app`` (the FastAPI application, which serves the same routes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._v1 = _run_route(v1.router.routes, "/v1/modules/{module_id}/run")
        self._legacy = _run_route(legacy.router.routes, "/{module_id}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route, module_id = self._match(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        scope["path_params"] = {"module_id": module_id}
        await route.app(scope, receive, send)

    def _match(self, scope: Scope) -> tuple[RunRoute | None, str]:
        if scope["type"] != "http" or scope["method"] != "POST":
            return None, ""
        path: str = scope["path"]
        if path.startswith(V1_PREFIX) and path.endswith(V1_SUFFIX) and path.count("/") == 4:
            return self._v1, path[len(V1_PREFIX) : -len(V1_SUFFIX)]
        if len(path) == UUID_LENGTH + 1 and path.count("/") == 1:
            return self._legacy, path[1:]
        return None, ""
