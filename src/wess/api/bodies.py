"""Reading requests: bounded bodies, strict JSON, ids, and schema validation."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from wess.errors import InvalidModuleId, InvalidRequest, MalformedJson, PayloadTooLarge

ModelT = TypeVar("ModelT", bound=BaseModel)


async def read_body(request: Request, *, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the body is {declared} bytes; the limit is {limit} bytes", limit=limit
        )
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


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
