"""``POST /v1/modules/{id}/run:batch``: many calls of one function, answered as NDJSON.

The body is either JSON, ``{"function"?, "args": [[1, 2], [3, 4], ...], "limits"?}``
(the fields of a run, with ``args`` a list of argument arrays), or NDJSON
(``Content-Type: application/x-ndjson``), one argument array a line, with the function
in the ``function`` query parameter. More than ``batch.max_items`` calls, or a body
over ``batch.max_body`` bytes, is refused with 413 before anything runs; so is a
module or function that does not exist (404), before the answer starts.

The answer is ``application/x-ndjson``, one line per call in the order the calls
complete, each naming its ``index`` in the request: ``{"index", "results", "function",
"duration_us", ...}`` (a run's answer) or ``{"index", "error": {problem document}}``.
An item's failure (bad arguments, a trap, a timeout, a full queue) is that item's
line; the others go on. ``Request-Timeout-Ms`` is each call's deadline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from wess.api import openapi
from wess.api.access import caller, guarded
from wess.api.bodies import media_type, parse_json, parse_module_id, read_body
from wess.api.guard import requires
from wess.api.offloop import off_loop
from wess.api.problems import problem_body
from wess.api.resources import run_document
from wess.api.runs import asked_timeout, parse_run_request
from wess.api.schemas import BatchRequest
from wess.api.state import state_of
from wess.batching import BatchLimits, BatchResult, concurrency_of, run_batch
from wess.errors import InvalidRequest, MalformedJson, PayloadTooLarge, UnsupportedMediaType
from wess.security.rbac import Permission
from wess.service import BoundFunction, ModuleService, RunLimits

NDJSON = "application/x-ndjson"
JSON_TYPES = frozenset({"application/json", ""})

router = APIRouter(prefix="/v1", tags=["modules"], dependencies=[Depends(guarded)])


@dataclass(frozen=True, slots=True)
class Batch:
    function: str | None
    items: list[Any]
    limits: RunLimits | None


@router.post(
    "/modules/{module_id}/run:batch",
    summary="Run a function many times (a batch), streamed as NDJSON",
    description="Runs one function once per argument array, a few calls at a time "
    "through the invocation pool; each line of the NDJSON answer is one call's result "
    "or error, with its index, as the calls complete.",
    responses={
        **openapi.responses(200, None, 400, 401, 403, 404, 413, 415, 429, 503),
        200: {"description": "One NDJSON line per call", "content": {NDJSON: {}}},
    },
    openapi_extra={
        **openapi.json_body(BatchRequest),
        **requires(Permission.MODULE_RUN),
        "parameters": [
            {
                "name": "function",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "The function, for an NDJSON body (one argument array a line).",
            },
            openapi.TIMEOUT_PARAMETER,
        ],
    },
)
async def run_many(request: Request, module_id: str) -> Response:
    state = state_of(request)
    target = parse_module_id(module_id)
    timeout_ms = asked_timeout(request.scope)
    limits = state.batch
    batch = await read_batch(request, limits)
    service = state.service
    bound = await service.bind(
        target,
        namespace=caller(request.scope).reads,
        function=batch.function,
        limits=batch.limits,
    )
    concurrency = concurrency_of(limits.concurrency, service.runner.invocations.share)
    request_id = caller(request.scope).request_id
    lines = _lines(service, bound, batch.items, concurrency, timeout_ms, request_id)
    return StreamingResponse(lines, media_type=NDJSON, headers={"Cache-Control": "no-store"})


async def read_batch(request: Request, limits: BatchLimits) -> Batch:
    """The batch the body holds, bounded by ``limits`` (413 past them)."""
    kind = media_type(request)
    if kind not in JSON_TYPES and kind != NDJSON:
        raise UnsupportedMediaType(f"a batch is application/json or {NDJSON}, not {kind}")
    body = await read_body(request, limit=limits.max_body)
    if kind == NDJSON:
        function = request.query_params.get("function") or None
        lines = await off_loop(partial(_ndjson_items, body, limits.max_items), size=len(body))
        return Batch(function=function, items=lines, limits=None)
    document = await off_loop(partial(parse_json, body), size=len(body))
    if not isinstance(document, dict):
        raise InvalidRequest('the body must be a JSON object like {"args": [[1, 2], [3, 4]]}')
    items: Any = document.get("args")
    if not isinstance(items, list):
        raise InvalidRequest("args must be a JSON array of argument arrays", field="args")
    _bounded(len(items), limits.max_items)
    call = parse_run_request({**document, "args": []})
    return Batch(function=call.function, items=items, limits=call.limits)


def _ndjson_items(body: bytes, max_items: int) -> list[Any]:
    """Each non-blank line of ``body`` parsed; a line that is not JSON is kept as the
    error its item answers."""
    lines = [line for line in body.split(b"\n") if line.strip()]
    _bounded(len(lines), max_items)
    items: list[Any] = []
    for line in lines:
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            items.append(MalformedJson(f"the line is not valid JSON: {exc}"))
    return items


def _bounded(count: int, max_items: int) -> None:
    if count > max_items:
        raise PayloadTooLarge(
            f"the batch holds {count} calls; at most {max_items} are accepted (batch.max_items)",
            limit=max_items,
        )


async def _lines(
    service: ModuleService,
    bound: BoundFunction,
    items: list[Any],
    concurrency: int,
    timeout_ms: int | None,
    request_id: str,
) -> AsyncIterator[bytes]:
    async def call(args: list[Any]) -> Any:
        return await service.call(bound, args, timeout_ms=timeout_ms)

    results = run_batch(call, items, concurrency=concurrency)
    try:
        async for done in results:
            yield b"".join(_line(result, request_id) for result in done)
    finally:
        await results.aclose()


def _line(result: BatchResult, request_id: str) -> bytes:
    if result.outcome is not None:
        document = {"index": result.index, **run_document(result.outcome)}
    else:
        assert result.error is not None
        problem = problem_body(result.error, request_id=request_id)
        document = {"index": result.index, "error": problem}
    return orjson.dumps(document) + b"\n"
