"""The /v1 API: modules as resources, runs as a sub-resource."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from wess.api import openapi
from wess.api.bodies import parse_json, parse_module_id, read_body
from wess.api.middleware import request_id_of
from wess.api.resources import etag, json_response, module_document, parse_etag, run_document
from wess.api.runs import RUN_BODY_LIMIT, parse_run_request
from wess.api.schemas import ModulePage, ModuleResource, RunRequest, RunResult
from wess.api.state import state_of
from wess.api.uploads import read_upload
from wess.errors import InvalidRequest
from wess.models import DEFAULT_NAMESPACE

router = APIRouter(prefix="/v1", tags=["modules"])


@router.post(
    "/modules",
    status_code=201,
    summary="Upload a module",
    responses=openapi.responses(201, ModuleResource, 400, 413, 415, 422, 503),
    openapi_extra=openapi.UPLOAD_BODY,
)
async def create_module(request: Request) -> Response:
    state = state_of(request)
    upload = await read_upload(request, state)
    info = await state.service.create(
        upload, namespace=DEFAULT_NAMESPACE, strict=True, request_id=request_id_of(request.scope)
    )
    location = f"/v1/modules/{info.id}"
    return json_response(
        module_document(info), status=201, headers={"Location": location, "ETag": etag(info.digest)}
    )


@router.get(
    "/modules",
    summary="List modules",
    responses=openapi.responses(200, ModulePage, 400, 503),
    openapi_extra=openapi.LIST_PARAMETERS,
)
async def list_modules(request: Request) -> Response:
    state = state_of(request)
    query = request.query_params
    limit = _int_param(query.get("limit"), "limit", default=state.default_page_size)
    page = await state.service.list(
        namespace=DEFAULT_NAMESPACE, cursor=query.get("cursor") or None, limit=limit
    )
    return json_response(
        {
            "items": [module_document(info) for info in page.items],
            "next_cursor": page.next_cursor,
        }
    )


@router.get(
    "/modules/{module_id}",
    summary="Read a module's metadata",
    responses=openapi.responses(200, ModuleResource, 400, 404),
)
async def get_module(request: Request, module_id: str) -> Response:
    info = await state_of(request).service.info(
        parse_module_id(module_id), namespace=DEFAULT_NAMESPACE
    )
    return json_response(module_document(info), headers={"ETag": etag(info.digest)})


@router.get(
    "/modules/{module_id}/wasm",
    summary="Download a module's bytes",
    responses=openapi.responses(200, None, 400, 404, wasm=True),
)
async def get_module_wasm(request: Request, module_id: str) -> Response:
    record = await state_of(request).service.get(
        parse_module_id(module_id), namespace=DEFAULT_NAMESPACE
    )
    tag = etag(record.digest)
    if parse_etag(request.headers.get("if-none-match")) == record.digest:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(record.wasm, media_type="application/wasm", headers={"ETag": tag})


@router.put(
    "/modules/{module_id}",
    summary="Replace a module",
    responses=openapi.responses(200, ModuleResource, 400, 404, 412, 413, 415, 422, 503),
    openapi_extra=openapi.UPLOAD_BODY,
)
async def replace_module(request: Request, module_id: str) -> Response:
    state = state_of(request)
    target = parse_module_id(module_id)
    upload = await read_upload(request, state)
    info = await state.service.update(
        target,
        upload,
        namespace=DEFAULT_NAMESPACE,
        strict=True,
        if_match=parse_etag(request.headers.get("if-match")),
        request_id=request_id_of(request.scope),
    )
    return json_response(module_document(info), headers={"ETag": etag(info.digest)})


@router.delete(
    "/modules/{module_id}",
    status_code=204,
    summary="Delete a module",
    responses=openapi.responses(204, None, 400, 404, 412, 503),
)
async def delete_module(request: Request, module_id: str) -> Response:
    await state_of(request).service.delete(
        parse_module_id(module_id),
        namespace=DEFAULT_NAMESPACE,
        if_match=parse_etag(request.headers.get("if-match")),
        request_id=request_id_of(request.scope),
    )
    return Response(status_code=204)


@router.post(
    "/modules/{module_id}/run",
    summary="Run a function",
    responses=openapi.responses(200, RunResult, 400, 404, 408, 413, 422, 503),
    openapi_extra=openapi.json_body(RunRequest),
)
async def run_function(request: Request, module_id: str) -> Response:
    state = state_of(request)
    target = parse_module_id(module_id)
    run = parse_run_request(parse_json(await read_body(request, limit=RUN_BODY_LIMIT)))
    outcome = await state.service.run(
        target, namespace=DEFAULT_NAMESPACE, function=run.function, args=run.args, limits=run.limits
    )
    return json_response(run_document(outcome))


def _int_param(raw: str | None, name: str, *, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"{name}={raw!r} is not a whole number", field=name) from None
