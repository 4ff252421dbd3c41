"""Reading requests: bounded bodies, strict JSON, ids, and schema validation."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import Receive, Scope

from wess.errors import InvalidModuleId, InvalidRequest, MalformedJson, PayloadTooLarge

ModelT = TypeVar("ModelT", bound=BaseModel)


class ClientGone(Exception):
    """The client disconnected before sending its whole body."""


async def read_body(request: Request, *, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed ``limit``."""
    return await read_scope_body(request.scope, request.receive, limit=limit)


async def read_scope_body(scope: Scope, receive: Receive, *, limit: int) -> bytes:
    """``read_body`` for plain ASGI callers."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise PayloadTooLarge(
                f"the body is {value.decode()} bytes; the limit is {limit} bytes", limit=limit
            )
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes", limit=limit)
        if not message.get("more_body", False):
            return body


def parse_json(body: bytes) -> Any:
    """Strict JSON (no NaN literals, no trailing garbage); MalformedJson otherwise."""
    if not body.strip():
        raise MalformedJson("the request body is empty; a JSON document was expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"the request body is not valid JSON: {exc}") from None


def parse_module_id(raw: str) -> UUID:
    """A module id is a UUID in its canonical 36-character form."""
    try:
        value = UUID(raw)
    except ValueError:
        raise InvalidModuleId(f"{raw!r} is not a valid module id (a UUID)") from None
    if len(raw) != 36:
        raise InvalidModuleId(f"{raw!r} is not a valid module id (a UUID)")
    return value


def media_type(request: Request) -> str:
    raw = request.headers.get("content-type", "")
    return raw.split(";", 1)[0].strip().lower()


def validate(model: type[ModelT], document: Any) -> ModelT:
    """Validate a parsed document against ``model``; InvalidRequest names each bad field."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "body"
            problems.append(f"{where}: {error['msg']}")
        raise InvalidRequest(
            "the request body is invalid: " + "; ".join(problems), errors=problems
        ) from None
