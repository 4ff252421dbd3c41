"""Asynchronous invocations: ``POST /v1/modules/{id}/invocations`` and
``GET /v1/invocations/{iid}``.

The POST body is a run's (``function``, ``args``, ``limits``) and ``retry``
(``{"attempts": 3, "on": ["timeout", "trap"]}``); ``Idempotency-Key`` names the
invocation within the caller's namespace, so a client that lost the answer sends the
same request again and gets the same invocation (``Idempotent-Replayed: true``). The
answer is 202 with ``Location: /v1/invocations/{iid}``, sent once the invocation is
durable. An invocation of another namespace is 404, as modules are.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from wess.api import openapi
from wess.api.access import caller, guarded
from wess.api.bodies import parse_json, parse_module_id, read_body
from wess.api.guard import requires
from wess.api.resources import json_response
from wess.api.runs import RUN_BODY_LIMIT, parse_run_request
from wess.api.schemas import InvocationRequest
from wess.api.state import state_of
from wess.errors import InvalidRequest, InvocationNotFound
from wess.invocations import AsyncInvocations, InvocationRecord, InvocationState, parse_retry
from wess.security.rbac import Permission

IDEMPOTENCY_KEY_MAX = 256

router = APIRouter(prefix="/v1", tags=["invocations"], dependencies=[Depends(guarded)])

IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
    "description": "Names the invocation within the caller's namespace: the same key "
    "answers the invocation it made first (until that one is pruned).",
}


@router.post(
    "/modules/{module_id}/invocations",
    status_code=202,
    summary="Invoke a function asynchronously",
    description="Queues one call (durable before the answer); its state and result are "
    "read at the Location answered.",
    responses=openapi.responses(202, None, 400, 401, 403, 404, 413, 429, 503),
    openapi_extra={
        **openapi.json_body(InvocationRequest),
        **requires(Permission.MODULE_RUN),
        "parameters": [IDEMPOTENCY_PARAMETER],
    },
)
async def invoke(request: Request, module_id: str) -> Response:
    invocations = _invocations(request)
    target = parse_module_id(module_id)
    document = parse_json(await read_body(request, limit=RUN_BODY_LIMIT))
    if not isinstance(document, dict):
        raise InvalidRequest('the body must be a JSON object like {"function": "sum", "args": [1]}')
    retry = parse_retry(document.get("retry"))
    call = parse_run_request({key: value for key, value in document.items() if key != "retry"})
    record, created = await invocations.submit(
        target,
        namespace=caller(request.scope).reads,
        function=call.function,
        args=call.args,
        limits=call.limits,
        retry=retry,
        idempotency_key=_idempotency_key(request),
    )
    headers = {"Location": f"/v1/invocations/{record.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return json_response(invocation_document(record), status=202, headers=headers)


@router.get(
    "/invocations/{invocation_id}",
    summary="Read an asynchronous invocation",
    responses=openapi.responses(200, None, 400, 401, 403, 404, 429, 503),
    openapi_extra=requires(Permission.MODULE_RUN),
)
async def read_invocation(request: Request, invocation_id: str) -> Response:
    try:
        wanted = UUID(invocation_id)
    except ValueError:
        raise InvocationNotFound(f"no invocation {invocation_id[:64]!r}") from None
    record = await _invocations(request).get(wanted, namespace=caller(request.scope).reads)
    headers = {} if record.finished else {"Retry-After": "1"}
    return json_response(invocation_document(record), headers=headers)


def invocation_document(record: InvocationRecord) -> dict[str, Any]:
    """An invocation as ``GET /v1/invocations/{iid}`` answers it."""
    document: dict[str, Any] = {
        "id": str(record.id),
        "module_id": str(record.module_id),
        "function": record.function,
        "state": record.state.value,
        "attempts": record.attempts,
        "max_attempts": record.max_attempts,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }
    if record.state is InvocationState.QUEUED and record.attempts:
        document["next_attempt_at"] = record.not_before.isoformat()
    if record.result is not None:
        document["result"] = record.result
    if record.error is not None:
        document["error"] = record.error
    if record.expires_at is not None:
        document["expires_at"] = record.expires_at.isoformat()
    return document


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters",
            field="Idempotency-Key",
        )
    return key


def _invocations(request: Request) -> AsyncInvocations:
    invocations = state_of(request).invocations
    if invocations is None:
        raise InvalidRequest("asynchronous invocations are not enabled on this server")
    return invocations
