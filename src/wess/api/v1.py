"""The /v1 API: modules as resources, runs as a sub-resource.

Every route declares its permission (``requires``); the router's ``guarded``
dependency enforces it. Reads and runs are limited to the caller's namespace (an
admin's reach every namespace); new modules go to the caller's namespace.

A listing shows summaries, read from the store ``LIST_CHUNK`` modules at a time and
encoded one by one, so neither the modules it holds nor the page it answers grows with
what the modules export; a page ends at ``limit`` items or ``limits.max_page_bytes``
bytes, whichever comes first. With ``Accept: application/x-ndjson`` the listing is
every module from the cursor on, one summary a line, streamed (``streams``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from wess.api import openapi
from wess.api.access import addressed, caller, guarded
from wess.api.guard import requires
from wess.api.resources import PageBody, etag, module_response, parse_etag, summary_json
from wess.api.runs import RunRoute
from wess.api.schemas import ModulePage, ModuleResource, RunRequest, RunResult
from wess.api.state import state_of
from wess.api.streams import ndjson_response, wants_ndjson
from wess.api.uploads import read_upload
from wess.errors import InvalidRequest
from wess.security.rbac import Permission
from wess.service import ModuleService
from wess.workers.reader import encode_cursor
from wess.workers.resolving import selector

LIST_CHUNK = 32
"""Modules a listing reads from the store at a time: the most catalogues it holds (the
store decodes each module's whole record, catalogue included, to list it)."""

router = APIRouter(prefix="/v1", tags=["modules"], dependencies=[Depends(guarded)])


@router.post(
    "/modules",
    status_code=201,
    summary="Upload a module",
    responses=openapi.responses(201, ModuleResource, 400, 401, 403, 413, 415, 422, 429, 503, 507),
    openapi_extra={
        **openapi.UPLOAD_BODY,
        **requires(Permission.MODULE_CREATE, audit="module.create"),
    },
)
async def create_module(request: Request) -> Response:
    state = state_of(request)
    who = caller(request.scope)
    upload = await read_upload(request, state)
    info = await state.service.create(
        upload, namespace=who.home, strict=True, request_id=who.request_id, actor=who.actor
    )
    location = f"/v1/modules/{info.id}"  # the id: a name may move to another module
    return await module_response(
        info, status=201, headers={"Location": location, "ETag": etag(info.digest)}
    )


@router.get(
    "/modules",
    summary="List modules",
    responses=openapi.responses(200, ModulePage, 400, 401, 403, 429, 503),
    openapi_extra={**openapi.LIST_PARAMETERS, **requires(Permission.MODULE_READ)},
)
async def list_modules(request: Request) -> Response:
    state = state_of(request)
    query = request.query_params
    limit = _int_param(query.get("limit"), "limit", default=state.default_page_size)
    if not 1 <= limit <= state.max_page_size:
        raise InvalidRequest(
            f"limit must be between 1 and {state.max_page_size}, got {limit}", field="limit"
        )
    if wants_ndjson(request):
        lines = _every_module(
            state.service, namespace=caller(request.scope).reads, cursor=query.get("cursor")
        )
        return ndjson_response(lines)
    page = PageBody(limit=limit, max_bytes=state.max_page_bytes)
    body = await _listing(
        state.service,
        page,
        namespace=caller(request.scope).reads,
        cursor=query.get("cursor") or None,
    )
    return Response(body, media_type="application/json")


@router.get(
    "/modules/{module_id}",
    summary="Read a module's metadata",
    responses=openapi.responses(200, ModuleResource, 400, 401, 403, 404, 429, 503),
    openapi_extra=requires(Permission.MODULE_READ),
)
async def get_module(request: Request, module_id: str) -> Response:
    service = state_of(request).service
    target = await addressed(request, module_id)
    info = await service.info(target, namespace=caller(request.scope).reads)
    return await module_response(
        info, headers={"ETag": etag(info.digest)}, breaker=service.breaker(info.id)
    )


@router.get(
    "/modules/{module_id}/wasm",
    summary="Download a module's bytes",
    responses=openapi.responses(200, None, 400, 401, 403, 404, 429, wasm=True),
    openapi_extra=requires(Permission.MODULE_DOWNLOAD),
)
async def get_module_wasm(request: Request, module_id: str) -> Response:
    record = await state_of(request).service.get(
        await addressed(request, module_id),
        namespace=caller(request.scope).reads,
        selector=selector(request.query_params.get("revision"), request.query_params.get("alias")),
    )
    tag = etag(record.digest)
    if parse_etag(request.headers.get("if-none-match")) == record.digest:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(record.wasm, media_type="application/wasm", headers={"ETag": tag})


@router.put(
    "/modules/{module_id}",
    summary="Replace a module",
    responses=openapi.responses(
        200, ModuleResource, 400, 401, 403, 404, 412, 413, 415, 422, 429, 503, 507
    ),
    openapi_extra={
        **openapi.UPLOAD_BODY,
        **requires(Permission.MODULE_UPDATE, audit="module.update"),
    },
)
async def replace_module(request: Request, module_id: str) -> Response:
    state = state_of(request)
    who = caller(request.scope)
    target = await addressed(request, module_id)
    upload = await read_upload(request, state)
    info = await state.service.update(
        target,
        upload,
        namespace=who.reads,
        strict=True,
        if_match=parse_etag(request.headers.get("if-match")),
        request_id=who.request_id,
        actor=who.actor,
    )
    return await module_response(info, headers={"ETag": etag(info.digest)})


@router.delete(
    "/modules/{module_id}",
    status_code=204,
    summary="Delete a module",
    responses=openapi.responses(204, None, 400, 401, 403, 404, 412, 429, 503),
    openapi_extra=requires(Permission.MODULE_DELETE, audit="module.delete"),
)
async def delete_module(request: Request, module_id: str) -> Response:
    who = caller(request.scope)
    await state_of(request).service.delete(
        await addressed(request, module_id),
        namespace=who.reads,
        if_match=parse_etag(request.headers.get("if-match")),
        request_id=who.request_id,
        actor=who.actor,
    )
    return Response(status_code=204)


router.routes.append(
    RunRoute(
        "/v1/modules/{module_id}/run",
        legacy=False,
        operation=openapi.Operation(
            operation_id="run_function",
            summary="Run a function",
            description="Runs one exported function (the default one when the body names "
            "none) in a fresh sandbox; limits may lower, never raise, the configured ones.",
            tags=("modules",),
            request_body=openapi.json_body(RunRequest)["requestBody"],
            responses=openapi.responses(
                200, RunResult, 400, 401, 403, 404, 408, 413, 422, 429, 503
            ),
            extra=requires(Permission.MODULE_RUN),
            parameters=openapi.RUN_PARAMETERS,
        ),
    )
)
"""Served by a plain ASGI endpoint (``runs.RunEndpoint``): the hot path."""


async def _listing(
    service: ModuleService, page: PageBody, *, namespace: str | None, cursor: str | None
) -> bytes:
    """``page`` filled from ``cursor`` on, and its body: the cursor it ends with follows
    its last item, wherever the count or the byte bound ended it."""
    while True:
        chunk = await service.list(
            namespace=namespace, cursor=cursor, limit=min(LIST_CHUNK, page.limit - page.count)
        )
        for info in chunk.items:
            if not page.add(summary_json(info)):
                return page.body(cursor)
            cursor = encode_cursor(info.id)
        if chunk.next_cursor is None or page.count >= page.limit:
            return page.body(chunk.next_cursor)
        cursor = chunk.next_cursor


async def _every_module(
    service: ModuleService, *, namespace: str | None, cursor: str | None
) -> AsyncIterator[bytes]:
    """Every module's summary from ``cursor`` on, one line each, a chunk at a time."""
    cursor = cursor or None
    while True:
        chunk = await service.list(namespace=namespace, cursor=cursor, limit=LIST_CHUNK)
        if chunk.items:
            yield b"".join(summary_json(info) + b"\n" for info in chunk.items)
        if chunk.next_cursor is None:
            return
        cursor = chunk.next_cursor


def _int_param(raw: str | None, name: str, *, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"{name}={raw!r} is not a whole number", field=name) from None
