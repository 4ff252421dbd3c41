"""The run routes, served without the framework's layers.

``POST /v1/modules/{id}/run`` and the original ``POST /{id}`` are what users hammer.
Through FastAPI each request crosses half a dozen middleware and router layers before
its handler; here it costs a path check, one bounded body read, one JSON parse and one
JSON dump around the service call. Everything else a request gets is unchanged: the
request id, metrics and access log of ``RequestContext`` (outside this layer), the
same parsing functions, the same service, and the same error responses. The routes
stay declared in FastAPI too, so ``/openapi.json`` describes them and a request this
layer does not recognise still reaches them.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from wess.api import legacy, v1
from wess.api.answers import error_response
from wess.api.bodies import ClientGone, parse_json, parse_module_id, read_scope_body
from wess.api.guard import namespace_scope
from wess.api.resources import run_document
from wess.api.runs import RUN_BODY_LIMIT, parse_run_request
from wess.api.state import ApiState
from wess.errors import InvalidRequest, WessError
from wess.security.rbac import Permission

V1_PREFIX = "/v1/modules/"
V1_SUFFIX = "/run"
UUID_LENGTH = 36
JSON_HEADERS = [(b"content-type", b"application/json")]


def _route(router_routes: list[Any], endpoint: object) -> APIRoute:
    for route in router_routes:
        if isinstance(route, APIRoute) and route.endpoint is endpoint:
            return route
    raise LookupError(f"no route for {endpoint!r}")


class RunRoutes:
    """Serves the two run routes itself; passes every other request to ``app``."""

    def __init__(self, app: ASGIApp, *, state: ApiState) -> None:
        self.app = app
        self._service = state.service
        self._guard = state.guard
        self._metrics = state.metrics
        self._v1_route = _route(v1.router.routes, v1.run_function)
        self._legacy_route = _route(legacy.router.routes, legacy.run)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(V1_PREFIX) and path.endswith(V1_SUFFIX) and path.count("/") == 4:
                scope["route"] = self._v1_route
                await self._serve(scope, receive, send, path[len(V1_PREFIX) : -len(V1_SUFFIX)])
                return
            if len(path) == UUID_LENGTH + 1 and path.count("/") == 1:
                scope["route"] = self._legacy_route
                await self._serve(scope, receive, send, path[1:], legacy_api=True)
                return
        await self.app(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, raw_id: str, *, legacy_api: bool = False
    ) -> None:
        try:
            principal = await self._guard.admit(scope, Permission.MODULE_RUN)
            assert principal is not None  # MODULE_RUN is never public
            reads = namespace_scope(principal)
            module_id = parse_module_id(raw_id)
            document = parse_json(await read_scope_body(scope, receive, limit=RUN_BODY_LIMIT))
            if legacy_api:
                if not isinstance(document, list):
                    raise InvalidRequest("the body must be a JSON array of arguments, like [1, 2]")
                info = await self._service.info(module_id, namespace=reads)
                function = legacy.function_of(info)
                outcome = await self._service.run(
                    module_id, namespace=reads, function=function, args=document
                )
                body = orjson.dumps({"message": outcome.results})
            else:
                call = parse_run_request(document)
                outcome = await self._service.run(
                    module_id,
                    namespace=reads,
                    function=call.function,
                    args=call.args,
                    limits=call.limits,
                )
                body = orjson.dumps(run_document(outcome))
        except ClientGone:
            return
        except WessError as exc:
            await error_response(scope, exc, self._metrics)(scope, receive, send)
            return
        headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
