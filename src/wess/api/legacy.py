"""The original Wess HTTP API, unchanged for existing clients.

Paths at the root, bodies as the Rust server had them, every body wrapped as
``{"message": ...}``, writes answered 202 (durable before the answer, unlike the
original). Bodies are read as JSON whatever ``Content-Type`` says: the original
clients send none. Errors are ``{"message": "<text>"}`` (see ``problems``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from wess.api import openapi
from wess.api.access import caller, guarded
from wess.api.answers import LEGACY_TAG
from wess.api.bodies import JsonShape, decoded, parse_module_id, read_body
from wess.api.guard import requires
from wess.api.resources import json_answer, json_response
from wess.api.runs import LEGACY_ARGUMENTS_SCHEMA, RunRoute
from wess.api.schemas import LegacyModule, LegacyRunResult
from wess.api.state import ApiState, state_of
from wess.errors import InvalidRequest
from wess.models import LegacyMetadata, ModuleInfo, ValueType
from wess.security.rbac import Permission
from wess.targets import default_function_of
from wess.uploading import Upload

router = APIRouter(tags=[LEGACY_TAG], dependencies=[Depends(guarded)])

_ACCEPTED = {"description": "Accepted (durable)"}
JSON_BYTES_PER_WASM_BYTE = 4
"""The most a byte of wasm takes as an integer in a JSON array: ``255,``."""
METADATA_SLACK = 4096
"""Members, strings and items the metadata may hold (its types, its function's name)."""


@router.post(
    "/",
    status_code=202,
    summary="Create a module (original API)",
    responses={202: _ACCEPTED},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": LegacyModule.model_json_schema()}},
        },
        **requires(Permission.MODULE_CREATE, audit="module.create"),
    },
)
async def create(request: Request) -> Response:
    state = state_of(request)
    who = caller(request.scope)
    upload = await _read_module(request, state)
    info = await state.service.create(
        upload, namespace=who.home, strict=False, request_id=who.request_id, actor=who.actor
    )
    return json_response({"message": {"id": str(info.id)}}, status=202)


@router.get(
    "/",
    status_code=202,
    summary="Count modules (original API)",
    openapi_extra=requires(Permission.MODULE_READ),
)
async def count(request: Request) -> Response:
    total = await state_of(request).service.count(namespace=caller(request.scope).reads)
    return json_response({"message": total}, status=202)


@router.get(
    "/{module_id}",
    status_code=202,
    summary="Read a module and its bytes (original API)",
    openapi_extra=requires(Permission.MODULE_DOWNLOAD),
)
async def read(request: Request, module_id: str) -> Response:
    record = await state_of(request).service.get(
        parse_module_id(module_id), namespace=caller(request.scope).reads
    )
    metadata = legacy_metadata_of(record.info)
    return await json_answer(  # up to four bytes of JSON a byte: off the loop when large
        lambda: {"message": {"wasm": list(record.wasm), "metadata": metadata}},
        size=JSON_BYTES_PER_WASM_BYTE * len(record.wasm),
        status=202,
    )


@router.put(
    "/{module_id}",
    status_code=202,
    summary="Replace a module (original API)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": LegacyModule.model_json_schema()}},
        },
        **requires(Permission.MODULE_UPDATE, audit="module.update"),
    },
)
async def update(request: Request, module_id: str) -> Response:
    state = state_of(request)
    who = caller(request.scope)
    target = parse_module_id(module_id)
    upload = await _read_module(request, state)
    info = await state.service.update(
        target,
        upload,
        namespace=who.reads,
        strict=False,
        request_id=who.request_id,
        actor=who.actor,
    )
    return json_response({"message": {"id": str(info.id)}}, status=202)


@router.delete(
    "/{module_id}",
    status_code=202,
    summary="Delete a module (original API)",
    openapi_extra=requires(Permission.MODULE_DELETE, audit="module.delete"),
)
async def delete(request: Request, module_id: str) -> Response:
    who = caller(request.scope)
    target = parse_module_id(module_id)
    await state_of(request).service.delete(
        target, namespace=who.reads, request_id=who.request_id, actor=who.actor
    )
    return json_response({"message": {"id": str(target)}}, status=202)


router.routes.append(
    RunRoute(
        "/{module_id}",
        legacy=True,
        operation=openapi.Operation(
            operation_id="run_legacy",
            summary="Run the module's function (original API)",
            description="Runs the function the module's metadata names with the arguments "
            "in the body; answers the results as the original Wess did.",
            tags=(LEGACY_TAG,),
            request_body={
                "required": True,
                "content": {"application/json": {"schema": LEGACY_ARGUMENTS_SCHEMA}},
            },
            responses=openapi.legacy_responses(
                LegacyRunResult, 400, 401, 403, 404, 408, 413, 429, 500, 503
            ),
            extra=requires(Permission.MODULE_RUN),
            parameters=openapi.LEGACY_RUN_PARAMETERS,
        ),
    )
)
"""Served by a plain ASGI endpoint (``runs.RunEndpoint``); last, like the other
catch-all ``/{module_id}`` routes."""


def legacy_metadata_of(info: ModuleInfo) -> dict[str, Any]:
    """The metadata as the client sent it, or derived from the default function."""
    if info.legacy_metadata is not None:
        meta = info.legacy_metadata
        return {
            "functionName": meta.function_name,
            "returnType": list(meta.return_type),
            "args": list(meta.args),
        }
    signature = info.function(default_function_of(info))
    assert signature is not None
    return {
        "functionName": signature.name,
        "returnType": [t.legacy_name for t in signature.results],
        "args": [t.legacy_name for t in signature.params],
    }


async def _read_module(request: Request, state: ApiState) -> Upload:
    """The upload in the body: parsed and converted off the event loop when large (a
    module is a JSON array of up to millions of integers)."""
    body = await read_body(request, limit=state.max_json_body)
    return await decoded(body, legacy_upload, shape=legacy_shape(state.max_module_size))


def legacy_shape(max_module_size: int) -> JsonShape:
    """The module as an array of up to ``max_module_size`` integers, and the metadata."""
    return JsonShape(
        what="a module in the original API's form",
        members=METADATA_SLACK,
        strings=METADATA_SLACK,
        items=max_module_size + METADATA_SLACK,
    )


def legacy_upload(document: Any) -> Upload:
    """The upload a parsed original-API body describes."""
    if not isinstance(document, dict) or "wasm" not in document or "metadata" not in document:
        raise InvalidRequest(
            'the body must be {"wasm": [bytes], "metadata": {"functionName", "returnType", "args"}}'
        )
    wasm = _bytes(document["wasm"])
    meta = document["metadata"]
    if not isinstance(meta, dict):
        raise InvalidRequest("metadata must be an object")
    name = meta.get("functionName")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("metadata.functionName must be a non-empty string")
    args = _type_names(meta.get("args"), "metadata.args")
    results = _type_names(meta.get("returnType"), "metadata.returnType")
    return Upload(
        wasm=wasm,
        default_function=name,
        declared_params=tuple(ValueType(t.lower()) for t in args),
        declared_results=tuple(ValueType(t.lower()) for t in results),
        legacy_metadata=LegacyMetadata(function_name=name, args=args, return_type=results),
    )


def _bytes(raw: Any) -> bytes:
    if not isinstance(raw, list) or any(type(item) is not int for item in raw):
        raise InvalidRequest("wasm must be an array of integers 0..255")
    try:
        return bytes(raw)
    except ValueError:
        raise InvalidRequest("wasm must be an array of integers 0..255") from None


def _type_names(raw: Any, field: str) -> tuple[str, ...]:
    allowed = {t.legacy_name for t in ValueType}
    if not isinstance(raw, list) or any(
        not isinstance(item, str) or item.upper() not in allowed for item in raw
    ):
        raise InvalidRequest(f"{field} must be an array of {', '.join(sorted(allowed))}")
    return tuple(item.upper() for item in raw)
