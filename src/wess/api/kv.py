"""``/v1/kv``: the owner's view of a namespace's key-value state (what guests reach by
``wess:kv@1``).

    GET    /v1/kv?prefix=&cursor=&limit=   the keys, in byte order, a page at a time
    GET    /v1/kv/{key}                    the value (application/octet-stream)
    PUT    /v1/kv/{key}                    store the body as the value (204)
    DELETE /v1/kv/{key}                    remove it (204; 404 when there was none)

The namespace is the caller's own; an admin may name another with ``?namespace=``.
Keys of another namespace are simply not there (404), as modules are.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from wess.api import openapi
from wess.api.access import caller, guarded
from wess.api.bodies import read_body
from wess.api.guard import requires
from wess.api.resources import json_response
from wess.api.state import state_of
from wess.errors import InvalidRequest, KvKeyNotFound
from wess.models import is_namespace_name
from wess.security.rbac import Permission
from wess.workers.kv import KeyValues

DEFAULT_LIMIT = 100
OCTETS = "application/octet-stream"

router = APIRouter(prefix="/v1", tags=["kv"], dependencies=[Depends(guarded)])

KEY_PARAMETER: dict[str, Any] = {
    "name": "key",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The key: 1 to kv.max_key_bytes bytes of UTF-8, no control characters "
    "(percent-encoded in the path; slashes allowed).",
}
NAMESPACE_PARAMETER: dict[str, Any] = {
    "name": "namespace",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "Another namespace's state (admin only); default: the caller's own.",
}


@router.get(
    "/kv",
    summary="List keys",
    responses=openapi.responses(200, None, 400, 401, 403, 429, 503),
    openapi_extra={
        **requires(Permission.KV_READ),
        "parameters": [
            {"name": "prefix", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}},
            NAMESPACE_PARAMETER,
        ],
    },
)
async def list_keys(request: Request) -> Response:
    values = _values(request)
    namespace = _namespace(request)
    query = request.query_params
    raw = query.get("limit") or str(DEFAULT_LIMIT)
    if not raw.isdigit() or not 1 <= int(raw) <= values.limits.max_list:
        raise InvalidRequest(
            f"limit must be from 1 to {values.limits.max_list} (kv.max_list)", field="limit"
        )
    limit = int(raw)
    keys = await values.list(
        namespace, prefix=query.get("prefix", ""), after=query.get("cursor") or None, limit=limit
    )
    return json_response(
        {
            "namespace": namespace,
            "items": keys,
            "next_cursor": keys[-1] if len(keys) == limit else None,
            "usage_bytes": await values.usage(namespace),
            "quota_bytes": values.limits.max_namespace,
        }
    )


@router.get(
    "/kv/{key:path}",
    summary="Read a value",
    responses={
        **openapi.responses(200, None, 400, 401, 403, 404, 429, 503),
        200: {"description": "The value", "content": {OCTETS: {}}},
    },
    openapi_extra={**requires(Permission.KV_READ), "parameters": [KEY_PARAMETER]},
)
async def read_value(request: Request, key: str) -> Response:
    value = await _values(request).get(_namespace(request), key)
    if value is None:
        raise KvKeyNotFound(f"no value under {key[:64]!r}")
    return Response(value, media_type=OCTETS, headers={"Cache-Control": "no-store"})


@router.put(
    "/kv/{key:path}",
    status_code=204,
    summary="Store a value",
    responses=openapi.responses(204, None, 400, 401, 403, 413, 429, 503, 507),
    openapi_extra={
        **requires(Permission.KV_WRITE, audit="kv.put"),
        "parameters": [KEY_PARAMETER],
        "requestBody": {"required": True, "content": {OCTETS: {"schema": {"type": "string"}}}},
    },
)
async def write_value(request: Request, key: str) -> Response:
    values = _values(request)
    body = await read_body(request, limit=values.limits.max_value)
    namespace = _namespace(request)
    await values.put(namespace, key, body)
    await _audited(request, "kv.put", namespace, key)
    return Response(status_code=204)


@router.delete(
    "/kv/{key:path}",
    status_code=204,
    summary="Delete a value",
    responses=openapi.responses(204, None, 400, 401, 403, 404, 429, 503),
    openapi_extra={
        **requires(Permission.KV_WRITE, audit="kv.delete"),
        "parameters": [KEY_PARAMETER],
    },
)
async def delete_value(request: Request, key: str) -> Response:
    namespace = _namespace(request)
    if not await _values(request).delete(namespace, key):
        raise KvKeyNotFound(f"no value under {key[:64]!r}")
    await _audited(request, "kv.delete", namespace, key)
    return Response(status_code=204)


async def _audited(request: Request, action: str, namespace: str, key: str) -> None:
    """The one audit entry of a key-value write that succeeded (refusals: ``guarded``)."""
    who = caller(request.scope)
    await state_of(request).auditor.succeeded(
        actor=who.actor.name,
        action=action,
        namespace=namespace,
        target=key[:256],
        request_id=who.request_id,
        client_ip=who.actor.client_ip,
    )


def _namespace(request: Request) -> str:
    who = caller(request.scope)
    asked = request.query_params.get("namespace")
    if not asked:
        return who.home
    if who.reads is not None and asked != who.reads:  # another namespace: not there for you
        raise KvKeyNotFound(f"namespace {asked[:64]!r} holds no key-value state you can reach")
    if not is_namespace_name(asked):
        raise InvalidRequest(f"namespace={asked[:64]!r} is not a namespace name", field="namespace")
    return asked


def _values(request: Request) -> KeyValues:
    values = state_of(request).kv
    if values is None:
        raise InvalidRequest("key-value state is not enabled on this server")
    return values
