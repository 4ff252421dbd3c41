"""The run routes: one plain ASGI endpoint per route, and the run request read by hand.

``POST /v1/modules/{id}/run`` and the original ``POST /{id}`` are what users hammer, so
their endpoint is a plain ASGI app (``RunEndpoint``): one bounded body read, one JSON
parse, the service call and one JSON dump, without FastAPI's request and dependency
machinery. Each is registered in its router as a ``RunRoute``: a Starlette route, which
calls an ASGI app as it is (FastAPI's routes wrap a handler function in their request
and dependency layers), with its ``openapi.Operation``, so ``/openapi.json`` describes
it and the guard reads its permission like any other route's. ``fastlane.RunRoutes``
hands the plainest run requests to the same endpoints before FastAPI's routing.

Bodies are parsed by hand because argument values must reach the codec exactly as sent
(a schema library would coerce ``"5"`` or ``true`` to numbers).

A client may shorten the run's deadline with ``Request-Timeout-Ms: <ms>`` (whole
milliseconds, at least 1; more than ``server.request_timeout_ms`` is cut to it): past
it the run ends with 408 ``deadline_exceeded`` naming the layer that ran out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

import orjson
from pydantic import TypeAdapter
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from wess.api.answers import error_response
from wess.api.bodies import parse_json, parse_module_id, read_scope_body
from wess.api.commands import (
    CommandPolicy,
    asks_logs,
    is_command_document,
    is_raw,
    parse_command_request,
    raw_headers,
    raw_request,
    wants_raw,
)
from wess.api.guard import declared, namespace_scope
from wess.api.offloop import off_loop
from wess.api.openapi import Operation
from wess.api.resources import run_document
from wess.api.schemas import JsonNumber
from wess.api.state import ApiState
from wess.errors import InvalidRequest, WessError
from wess.runtime.command_io import CommandInput
from wess.runtime.limits import BY_NAME, PER_CALL
from wess.runtime.reasons import clipped, listed_sorted
from wess.security.rbac import Permission
from wess.service import RunLimits
from wess.workers.outcome import RunOutcome
from wess.workers.resolving import CURRENT, MODULE_ID, Selector, selector

RUN_BODY_LIMIT = 64 * 1024
"""Arguments are at most a few numbers; this bounds what a run request may send."""
RUN_FIELDS = frozenset({"function", "args", "limits", "logs"})
TIMEOUT_HEADER = b"request-timeout-ms"
"""The client's deadline for one run, in milliseconds (``server.request_timeout_ms`` caps it)."""
TIMEOUT_DIGITS = 10
JSON_HEADERS = (b"content-type", b"application/json")
REVISION_HEADER = b"wess-revision"
"""The revision of the module a /v1 run ran (a weighted alias draws one)."""
SELECTOR_PARAMETERS = frozenset({"revision", "alias"})
RUN_PARAMETERS = SELECTOR_PARAMETERS | {"logs"}
LEGACY_ARGUMENTS_SCHEMA = TypeAdapter(list[JsonNumber]).json_schema()


@dataclass(frozen=True, slots=True)
class RunCall:
    """A parsed /v1 run request: a function call, or a command's (``command`` set)."""

    function: str | None
    args: list[Any]
    limits: RunLimits | None
    logs: bool = False
    command: CommandInput | None = None


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_run_call(scope: Scope, receive: Receive, policy: CommandPolicy) -> RunCall:
    """The /v1 run request in any of its forms: ``{"function", "args", "limits", "logs"}``,
    a command's JSON (``commands.is_command_document``) or a raw body as stdin."""
    logs = asks_logs(scope.get("query_string", b""))
    if is_raw(header(scope, b"content-type")):
        body = await read_scope_body(scope, receive, limit=policy.max_stdin)
        request = raw_request(body, policy=policy, logs=logs)
        return RunCall(None, [], None, logs=request.logs, command=request.input)
    body = await read_scope_body(scope, receive, limit=max(RUN_BODY_LIMIT, policy.body_limit))
    if len(body) <= RUN_BODY_LIMIT:
        document = parse_json(body)
    else:  # a command's stdin: parsed off the event loop
        document = await off_loop(partial(parse_json, body), size=len(body))
    if is_command_document(document):
        request = parse_command_request(document, policy=policy, logs=logs)
        return RunCall(None, [], _limits(request.limits), logs=request.logs, command=request.input)
    call = parse_run_request(document)
    return RunCall(call.function, call.args, call.limits, logs=logs or call.logs)


async def send_raw(send: Send, outcome: RunOutcome) -> None:
    """A command's stdout as the body; its exit code, truncation and stderr in headers."""
    output = outcome.output()
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(len(output.stdout)).encode()),
        *raw_headers(output),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": output.stdout})


class RunEndpoint:
    """The ASGI endpoint of a run route: /v1's, or the original API's (``legacy``).

    The module id comes from the route's path parameter; the state, from the app the
    request reached (``app.state.wess``, as for every handler).
    """

    def __init__(self, route: RunRoute, *, legacy: bool, permission: Permission) -> None:
        self.route = route
        self.legacy = legacy
        self.permission = permission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # FastAPI serves a copy of a plain route and names no route in the scope; the
        # error shape (``answers.is_legacy``), metrics and access log read it.
        scope["route"] = self.route
        state: ApiState = scope["app"].state.wess
        try:
            principal = await state.guard.admit(scope, self.permission)
            assert principal is not None  # running is never public
            raw = scope["path_params"]["module_id"]
            if MODULE_ID.fullmatch(raw) is not None:
                module_id = UUID(raw)
            elif self.legacy:
                module_id = parse_module_id(raw)  # refused: the original API knows ids only
            else:  # a name: resolved in the caller's namespace
                module_id = await state.service.resolve(raw, namespace=principal.namespace)
            timeout_ms = asked_timeout(scope)
            if self.legacy:
                document = parse_json(await read_scope_body(scope, receive, limit=RUN_BODY_LIMIT))
                outcome = await state.service.run(
                    module_id,
                    namespace=namespace_scope(principal),
                    function=None,  # the default: the function the client's metadata named
                    args=parse_legacy_run(document),
                    timeout_ms=timeout_ms,
                )
                body = orjson.dumps({"message": outcome.results})
            else:
                call = await read_run_call(scope, receive, state.commands)
                query = scope["query_string"]
                outcome = await state.service.run(
                    module_id,
                    namespace=namespace_scope(principal),
                    function=call.function,
                    args=call.args,
                    limits=call.limits,
                    timeout_ms=timeout_ms,
                    command=call.command,
                    selector=run_selector(query) if query else CURRENT,
                )
                if outcome.exit_code is not None and wants_raw(header(scope, b"accept")):
                    await send_raw(send, outcome)
                    return
                body = orjson.dumps(run_document(outcome, logs=call.logs))
        except WessError as exc:  # a client that left (ClientGone) is logged as 499 too
            await error_response(scope, exc, state.metrics)(scope, receive, send)
            return
        headers = [JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        if not self.legacy and outcome.revision is not None:
            headers.append((REVISION_HEADER, str(outcome.revision).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class RunRoute(Route):
    """``POST path`` served by a ``RunEndpoint``, described by ``operation``; the
    endpoint admits callers for the permission the operation declares."""

    def __init__(self, path: str, *, legacy: bool, operation: Operation) -> None:
        self.operation = operation
        self.openapi_extra = operation.extra  # what ``guard.declared`` reads on any route
        self.tags = list(operation.tags)  # what ``answers.is_legacy`` reads
        permission, _ = declared(self)
        if permission is None:
            raise ValueError(f"the operation of {path} declares no permission")
        endpoint = RunEndpoint(self, legacy=legacy, permission=permission)
        super().__init__(path, endpoint, methods=["POST"], name=operation.operation_id)


def run_selector(query: bytes) -> Selector:
    """The revision a run's query string names (``?revision=3`` or ``?alias=prod``)."""
    found: dict[str, str] = {}
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name not in RUN_PARAMETERS:
            raise InvalidRequest(
                f"unknown query parameter {clipped(name)!r}; allowed: revision, alias, logs",
                field=name,
            )
        found[name] = value
    return selector(found.get("revision"), found.get("alias"))


def parse_run_request(document: Any) -> RunCall:
    """``{"function"?: str, "args"?: [...], "limits"?: {...}}`` -> RunCall."""
    if not isinstance(document, dict):
        raise InvalidRequest(
            'the body must be a JSON object like {"function": "sum", "args": [1, 2]}'
        )
    unknown = document.keys() - RUN_FIELDS
    if unknown:
        raise InvalidRequest(
            f"unknown field(s): {listed_sorted(unknown)}; allowed: {', '.join(sorted(RUN_FIELDS))}"
        )
    function = document.get("function")
    if function is not None and (not isinstance(function, str) or not function):
        raise InvalidRequest("function must be a non-empty string", field="function")
    args = document.get("args", [])
    if not isinstance(args, list):
        raise InvalidRequest("args must be a JSON array", field="args")
    logs = document.get("logs", False)
    if not isinstance(logs, bool):
        raise InvalidRequest("logs must be true or false", field="logs")
    return RunCall(function=function, args=args, limits=_limits(document.get("limits")), logs=logs)


def asked_timeout(scope: Scope) -> int | None:
    """The milliseconds ``Request-Timeout-Ms`` asks for (None: not sent); ``InvalidRequest``
    unless it is a whole number of at least 1."""
    for name, value in scope["headers"]:
        if name == TIMEOUT_HEADER:
            return parse_timeout(value)
    return None


def parse_timeout(value: bytes) -> int:
    """A ``Request-Timeout-Ms`` value: ASCII digits, at least 1 (large values are kept:
    the configured budget caps them)."""
    text = value.strip()
    if not text.isdigit() or len(text) > TIMEOUT_DIGITS or int(text) < 1:
        raise InvalidRequest(
            "Request-Timeout-Ms must be a whole number of milliseconds, at least 1 "
            f"(and at most {10**TIMEOUT_DIGITS - 1})",
            field="Request-Timeout-Ms",
        )
    return int(text)


def parse_legacy_run(document: Any) -> list[Any]:
    """The original API's run body: the arguments, as a JSON array."""
    if not isinstance(document, list):
        raise InvalidRequest("the body must be a JSON array of arguments, like [1, 2]")
    return document


def _limits(raw: Any) -> RunLimits | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidRequest("limits must be an object", field="limits")
    unknown = raw.keys() - set(PER_CALL)
    if unknown:
        raise InvalidRequest(
            f"unknown limit(s): {listed_sorted(unknown)}; allowed: {', '.join(PER_CALL)}",
            field="limits",
        )
    asked: dict[str, int] = {}
    for name, value in raw.items():
        if value is None:
            continue
        spec = BY_NAME[name]
        if type(value) is not int or not spec.minimum <= value <= spec.maximum:
            raise InvalidRequest(
                f"limits.{name} must be a whole number from {spec.minimum} to {spec.maximum} "
                f"({spec.unit})",
                field=f"limits.{name}",
            )
        asked[name] = value
    return RunLimits(asked)
