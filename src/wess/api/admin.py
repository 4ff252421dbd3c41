"""Administration (admin only): API keys, the audit log, key-encryption-key rotation,
and the store as a whole: verify, export, import, backups.

Export and import stream: ``GET /v1/admin/export`` answers the dump as it is read from
the store, a page at a time; ``POST /v1/admin/import`` reads its body a line at a time
(each line bounded by the largest module) and writes through the Writer as it goes.
Neither ever holds the whole dump.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from wess.api import openapi
from wess.api.access import caller, guarded
from wess.api.bodies import parse_json, read_body, validate
from wess.api.guard import requires
from wess.api.resources import json_response
from wess.api.schemas import KeyRequest
from wess.api.state import state_of
from wess.api.streams import ndjson_response, wants_ndjson
from wess.auditing import AuditTrail
from wess.errors import ClientGone, InvalidRequest, UnsupportedMediaType
from wess.models import ApiKey, AuditEntry, Role, is_namespace_name
from wess.ops.backups import StoreBackups
from wess.ops.dump import parse_since
from wess.ops.exporting import ExportOptions
from wess.ops.importing import ImportOptions, namespace_map
from wess.ops.transfer import Transfer
from wess.security.audit import VerifyResult
from wess.security.rbac import Permission

router = APIRouter(prefix="/v1", tags=["administration"], dependencies=[Depends(guarded)])
KEY_BODY_LIMIT = 4096
AUDIT_PAGE_MAX = 1000


class KeyResource(BaseModel):
    id: str
    namespace: str
    role: Role
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class IssuedKeyResource(KeyResource):
    token: str = Field(..., description="Shown in this response only; Wess keeps its HMAC.")


@router.post(
    "/keys",
    status_code=201,
    summary="Create an API key",
    responses=openapi.responses(201, IssuedKeyResource, 400, 401, 403, 429, 503),
    openapi_extra={
        **openapi.json_body(KeyRequest),
        **requires(Permission.KEY_MANAGE, audit="key.create"),
    },
)
async def create_key(request: Request) -> Response:
    state = state_of(request)
    who = caller(request.scope)
    body = validate(KeyRequest, parse_json(await read_body(request, limit=KEY_BODY_LIMIT)))
    issued = await state.keys.create(
        namespace=body.namespace,
        role=body.role,
        name=body.name,
        expires_at=body.expires_at,
        actor=who.actor,
        request_id=who.request_id,
    )
    document = {**key_document(issued.key), "token": issued.token}
    return json_response(
        document,
        status=201,
        headers={"Location": f"/v1/keys/{issued.key.id}", "Cache-Control": "no-store"},
    )


@router.get(
    "/keys",
    summary="List API keys",
    responses=openapi.responses(200, None, 401, 403, 429),
    openapi_extra=requires(Permission.KEY_MANAGE),
)
async def list_keys(request: Request) -> Response:
    keys = await state_of(request).keys.list()
    return json_response({"items": [key_document(key) for key in keys]})


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    summary="Revoke an API key (at once)",
    responses=openapi.responses(204, None, 401, 403, 404, 429, 503),
    openapi_extra=requires(Permission.KEY_MANAGE, audit="key.revoke"),
)
async def revoke_key(request: Request, key_id: str) -> Response:
    who = caller(request.scope)
    await state_of(request).keys.revoke(key_id, actor=who.actor, request_id=who.request_id)
    return Response(status_code=204)


@router.get(
    "/audit",
    summary="Read the audit log",
    responses=openapi.responses(200, None, 400, 401, 403, 429),
    openapi_extra={
        **requires(Permission.AUDIT_READ),
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": kind},
                "description": text,
            }
            for name, kind, text in (
                ("after", "integer", "Entries after this sequence number (a next_cursor)."),
                ("limit", "integer", f"Page size, 1 to {AUDIT_PAGE_MAX}."),
                ("actor", "string", "Only this actor (api_key:<id>, jwt:<sub>)."),
                ("action", "string", "Only this action (module.create, key.revoke ...)."),
                ("namespace", "string", "Only this namespace."),
                ("outcome", "string", "Only this outcome (ok, or an error code)."),
            )
        ],
    },
)
async def read_audit(request: Request) -> Response:
    query = request.query_params
    after = _whole(query.get("after"), "after", default=0, low=0)
    limit = _whole(query.get("limit"), "limit", default=100, low=1, high=AUDIT_PAGE_MAX)
    wanted = {
        field: query[field]
        for field in ("actor", "action", "namespace", "outcome")
        if query.get(field)
    }

    def match(entry: AuditEntry) -> bool:
        return all(getattr(entry, field) == value for field, value in wanted.items())

    if wants_ndjson(request):
        return ndjson_response(
            _every_entry(state_of(request).audit, after=after, match=match if wanted else None)
        )
    entries, cursor = await state_of(request).audit.page(
        after=after, limit=limit, match=match if wanted else None
    )
    return json_response(
        {
            "items": [entry.to_dict() for entry in entries],
            "next_cursor": str(cursor) if cursor is not None else None,
        }
    )


async def _every_entry(
    audit: AuditTrail, *, after: int, match: Callable[[AuditEntry], bool] | None
) -> AsyncIterator[bytes]:
    """Every matching entry after ``after``, one line each, a page at a time."""
    cursor: int | None = after
    while cursor is not None:
        entries, cursor = await audit.page(after=cursor, limit=AUDIT_PAGE_MAX, match=match)
        if entries:
            yield b"".join(orjson.dumps(entry.to_dict()) + b"\n" for entry in entries)


@router.get(
    "/audit/verify",
    summary="Verify the audit log's chain and anchor",
    responses=openapi.responses(200, None, 401, 403, 429, 500),
    openapi_extra=requires(Permission.AUDIT_READ),
)
async def verify_audit(request: Request) -> Response:
    """Recompute every entry's MAC under the server's key, check the links, and check
    that the chain reaches its anchor; answers the head it verified, to compare with a
    copy kept elsewhere."""
    return json_response(verification_document(await state_of(request).audit.verify()))


def verification_document(result: VerifyResult) -> dict[str, Any]:
    """What ``GET /v1/audit/verify`` answers (and ``wess audit verify`` prints)."""
    head = result.head
    return {
        "ok": result.ok,
        "checked": result.checked,
        "head": None if head is None else {"seq": head.seq, "hash": head.hash},
        "broken_at": result.broken_at,
        "reason": None if result.reason is None else result.reason.value,
    }


@router.get(
    "/admin/verify",
    summary="Verify every stored record",
    responses=openapi.responses(200, None, 401, 403, 429, 503),
    openapi_extra=requires(Permission.STORE_ADMIN),
)
async def verify_store(request: Request) -> Response:
    """Read every module (bytes against their digest), key, usage count and audit entry
    (and the audit chain), and name what could not be read: ``ok`` is false when
    anything is damaged. Reads the whole store: expect it to take a while."""
    state = state_of(request)
    if state.verify_store is None:
        raise InvalidRequest("this server cannot verify its store")
    return json_response((await state.verify_store()).to_dict())


@router.get(
    "/cluster/nodes",
    summary="The nodes serving this store",
    responses=openapi.responses(200, None, 401, 403, 429, 503),
    openapi_extra=requires(Permission.STORE_ADMIN),
)
async def cluster_nodes(request: Request) -> Response:
    """Every node heard from recently (each beats every few seconds into the store)."""
    state = state_of(request)
    nodes = [] if state.nodes is None else await state.nodes()
    return json_response(
        {
            "items": [
                {
                    "id": node.id,
                    "address": node.address,
                    "version": node.version,
                    "started_at": node.started_at.isoformat(),
                    "last_seen": node.last_seen.isoformat(),
                    "this": node.id == state.node,
                }
                for node in nodes
            ]
        }
    )


@router.post(
    "/admin/rotate-kek",
    summary="Rotate the key-encryption key",
    responses=openapi.responses(200, None, 400, 401, 403, 409, 429, 503),
    openapi_extra=requires(Permission.KEY_MANAGE, audit="kek.rotate"),
)
async def rotate_kek(request: Request) -> Response:
    state = state_of(request)
    if state.rotator is None:
        raise InvalidRequest("encryption at rest is off: set security.encryption_key_file")
    who = caller(request.scope)
    kek_id, rewrapped = await state.rotator.rotate(actor=who.actor, request_id=who.request_id)
    return json_response({"kek_id": kek_id, "rewrapped": rewrapped})


NDJSON = "application/x-ndjson"
DUMP_TYPES = frozenset({NDJSON, "application/octet-stream", ""})


def _query(name: str, text: str, kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": kind},
        "description": text,
    }


@router.get(
    "/admin/export",
    summary="Export the store as a dump (wess-export/1, NDJSON)",
    responses=openapi.responses(200, None, 400, 401, 403, 429, 503),
    openapi_extra={
        **requires(Permission.STORE_ADMIN),
        "parameters": [
            _query("namespace", "Only this namespace's modules, keys and audit entries."),
            _query("since", "Only modules updated and keys created since (RFC 3339)."),
        ],
    },
)
async def export_store(request: Request) -> Response:
    """Stream every module (bytes and metadata), key record (hashes, never tokens) and
    audit entry, closed by a manifest of counts and a SHA-256 (docs/operations.md)."""
    transfer = _transfer(request)
    query = request.query_params
    namespace = query.get("namespace") or None
    if namespace is not None and not is_namespace_name(namespace):
        raise InvalidRequest(f"namespace={namespace!r} is not a namespace name", field="namespace")
    since = query.get("since")
    options = ExportOptions(namespace=namespace, since=parse_since(since) if since else None)
    return StreamingResponse(
        transfer.export(options),
        media_type=NDJSON,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": 'attachment; filename="wess-export.ndjson"',
        },
    )


@router.post(
    "/admin/import",
    summary="Import a dump (wess-export/1)",
    responses=openapi.responses(200, None, 400, 401, 403, 413, 415, 429, 503),
    openapi_extra={
        **requires(Permission.STORE_ADMIN, audit="store.import"),
        "parameters": [
            _query("map", "Namespace mapping, from=to (repeatable)."),
            _query(
                "rechain_audit",
                "true: append audit entries that cannot continue this log as they are "
                "under this server's key, after a boundary entry.",
                "boolean",
            ),
        ],
    },
)
async def import_store(request: Request) -> Response:
    """Import the dump in the body, a line at a time: every module's bytes checked
    against its digest before it is written, the manifest at the end. Answers what
    became of the records (imported, present, conflict, skipped, with reasons);
    ``ok`` is false, with ``error``, for a dump refused part way."""
    transfer = _transfer(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in DUMP_TYPES:
        raise UnsupportedMediaType(f"a dump is {NDJSON}, not {media}")
    who = caller(request.scope)
    options = ImportOptions(
        namespaces=namespace_map(request.query_params.getlist("map")),
        rechain_audit=request.query_params.get("rechain_audit", "").lower() in ("1", "true"),
    )
    report = await transfer.import_dump(
        _body(request),
        options=options,
        actor=who.actor.name,
        client_ip=who.actor.client_ip,
        request_id=who.request_id,
    )
    return json_response(report.to_dict())


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives; a client that leaves midway is ``ClientGone``."""
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise ClientGone("the client left before sending the whole dump") from None


@router.post(
    "/admin/backups",
    status_code=201,
    summary="Take a backup (a verified checkpoint of the store)",
    responses=openapi.responses(201, None, 401, 403, 429, 500, 503),
    openapi_extra=requires(Permission.STORE_ADMIN),
)
async def create_backup(request: Request) -> Response:
    """Checkpoint the store while it serves, read the checkpoint back whole, and keep it
    with its manifest in ``backup.dir``; answers the manifest."""
    manifest = await _backups(request).create()
    return json_response(manifest.to_dict(), status=201)


@router.get(
    "/admin/backups",
    summary="List backups",
    responses=openapi.responses(200, None, 401, 403, 429),
    openapi_extra=requires(Permission.STORE_ADMIN),
)
async def list_backups(request: Request) -> Response:
    manifests = _backups(request).list()
    return json_response({"items": [backup_summary(manifest.to_dict()) for manifest in manifests]})


def backup_summary(document: dict[str, Any]) -> dict[str, Any]:
    """A backup's manifest without its file list."""
    return {key: value for key, value in document.items() if key != "files"}


def _transfer(request: Request) -> Transfer:
    transfer = state_of(request).transfer
    if transfer is None:
        raise InvalidRequest("this server cannot export or import")
    return transfer


def _backups(request: Request) -> StoreBackups:
    backups = state_of(request).backups
    if backups is None:
        raise InvalidRequest("this server's store keeps nothing on disk to back up")
    return backups


def key_document(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "namespace": key.namespace,
        "role": key.role.value,
        "name": key.name,
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
    }


def _whole(raw: str | None, name: str, *, default: int, low: int, high: int | None = None) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name}={raw!r} is not a whole number", field=name) from None
    if value < low or (high is not None and value > high):
        bound = f"{low} to {high}" if high is not None else f">= {low}"
        raise InvalidRequest(f"{name} must be {bound}, got {value}", field=name)
    return value
