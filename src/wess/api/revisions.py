"""A module's revisions and aliases under /v1.

Every update keeps a new immutable revision; ``GET /v1/modules/{id}/revisions`` lists
those retained, oldest first, a page at a time (``cursor`` continues after a revision
number). An alias names one revision (``{"revision": 3}``) or splits calls between
several by weight (``{"weights": {"3": 90, "4": 10}}``); moving it is a rollback. Runs
and downloads pick one with ``?revision=`` or ``?alias=``.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from wess.api import openapi
from wess.api.access import addressed, caller, guarded
from wess.api.bodies import parse_json, read_body
from wess.api.guard import requires
from wess.api.resources import alias_document, json_response, revision_document
from wess.api.schemas import AliasDocument, AliasList, RevisionPage
from wess.api.state import state_of
from wess.errors import AliasNotFound, InvalidRequest
from wess.security.rbac import Permission
from wess.workers.resolving import alias_name, alias_targets

ALIAS_BODY_LIMIT = 4096
"""An alias body names a few revisions and weights."""

router = APIRouter(prefix="/v1", tags=["modules"], dependencies=[Depends(guarded)])


@router.get(
    "/modules/{module_id}/revisions",
    summary="List a module's retained revisions",
    responses=openapi.responses(200, RevisionPage, 400, 401, 403, 404, 429, 503),
    openapi_extra={**openapi.LIST_PARAMETERS, **requires(Permission.MODULE_READ)},
)
async def list_revisions(request: Request, module_id: str) -> Response:
    state = state_of(request)
    target = await addressed(request, module_id)
    info = await state.service.info(target, namespace=caller(request.scope).reads)
    query = request.query_params
    limit = _limit(query.get("limit"), default=state.default_page_size, most=state.max_page_size)
    after = decode_cursor(query["cursor"]) if query.get("cursor") else 0
    following = [ref for ref in info.retained if ref.number > after]
    page = following[:limit]
    more = len(following) > limit
    return json_response(
        {
            "items": [revision_document(ref, info) for ref in page],
            "next_cursor": encode_cursor(page[-1].number) if more else None,
        }
    )


@router.get(
    "/modules/{module_id}/aliases",
    summary="List a module's aliases",
    responses=openapi.responses(200, AliasList, 400, 401, 403, 404, 429, 503),
    openapi_extra=requires(Permission.MODULE_READ),
)
async def list_aliases(request: Request, module_id: str) -> Response:
    target = await addressed(request, module_id)
    info = await state_of(request).service.info(target, namespace=caller(request.scope).reads)
    return json_response({"aliases": {a.name: alias_document(a) for a in info.aliases}})


@router.get(
    "/modules/{module_id}/aliases/{alias}",
    summary="Read an alias",
    responses=openapi.responses(200, AliasDocument, 400, 401, 403, 404, 429, 503),
    openapi_extra=requires(Permission.MODULE_READ),
)
async def get_alias(request: Request, module_id: str, alias: str) -> Response:
    target = await addressed(request, module_id)
    info = await state_of(request).service.info(target, namespace=caller(request.scope).reads)
    found = info.alias(alias_name(alias))
    if found is None:
        raise AliasNotFound(f"module {info.id} has no alias {alias!r}", alias=alias)
    return json_response(alias_document(found))


@router.put(
    "/modules/{module_id}/aliases/{alias}",
    summary="Create or move an alias (a rollback moves it back)",
    responses=openapi.responses(200, AliasDocument, 400, 401, 403, 404, 413, 429, 503),
    openapi_extra={
        **openapi.json_body(AliasDocument),
        **requires(Permission.MODULE_UPDATE, audit="module.alias.set"),
    },
)
async def put_alias(request: Request, module_id: str, alias: str) -> Response:
    state = state_of(request)
    who = caller(request.scope)
    name = alias_name(alias)
    target = await addressed(request, module_id)
    targets = alias_targets(parse_json(await read_body(request, limit=ALIAS_BODY_LIMIT)))
    info = await state.service.set_alias(
        target,
        name,
        targets,
        namespace=who.reads,
        request_id=who.request_id,
        actor=who.actor,
    )
    found = info.alias(name)
    assert found is not None
    return json_response(alias_document(found))


@router.delete(
    "/modules/{module_id}/aliases/{alias}",
    status_code=204,
    summary="Delete an alias",
    responses=openapi.responses(204, None, 400, 401, 403, 404, 429, 503),
    openapi_extra=requires(Permission.MODULE_UPDATE, audit="module.alias.remove"),
)
async def delete_alias(request: Request, module_id: str, alias: str) -> Response:
    who = caller(request.scope)
    target = await addressed(request, module_id)
    await state_of(request).service.remove_alias(
        target,
        alias_name(alias),
        namespace=who.reads,
        request_id=who.request_id,
        actor=who.actor,
    )
    return Response(status_code=204)


def encode_cursor(after: int) -> str:
    """The opaque cursor continuing a revision listing after revision ``after``."""
    return base64.urlsafe_b64encode(after.to_bytes(8, "big")).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 8 or encode_cursor(int.from_bytes(raw, "big")) != cursor:
        raise InvalidRequest(f"malformed cursor {cursor!r}", field="cursor")
    return int.from_bytes(raw, "big")


def _limit(raw: str | None, *, default: int, most: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise InvalidRequest(f"limit must be between 1 and {most}, got {raw!r}", field="limit")
    return int(raw)
