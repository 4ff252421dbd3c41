"""Reading requests: bounded bodies, strict JSON, ids, and schema validation.

What a client sent never sizes an answer: a refusal names the first few offenders and
counts the rest (``wess.runtime.reasons.listed``), and a large body is parsed and
validated off the event loop (``decoded``).

A thread alone does not keep a parse from stalling the server: orjson holds the GIL
while it parses, and 8 MiB of 700,000 tiny object members take it for almost half a
second, during which no other thread, the event loop's included, runs. So a large body
is first held to the ``JsonShape`` of what it may be, by counting bytes (a few
milliseconds for 8 MiB), and one with more members, strings or items than any valid
body of its kind is refused unparsed.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import Receive, Scope

from wess.api.offloop import off_loop
from wess.errors import ClientGone as ClientGone  # raised here; re-exported
from wess.errors import (
    InvalidModuleId,
    InvalidRequest,
    MalformedJson,
    PayloadTooLarge,
)
from wess.runtime.reasons import LISTED, clipped, listed, listed_sorted

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")

MODULE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""The one spelling of a module id: a UUID's canonical form, lowercase, as Wess hands
ids out. Uppercase, braces, ``urn:uuid:``, bare hex and stray hyphens are refused, so a
module has one id in every path, log line, audit entry and metric."""


async def read_body(request: Request, *, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed ``limit``."""
    return await read_scope_body(request.scope, request.receive, limit=limit)


async def read_scope_body(scope: Scope, receive: Receive, *, limit: int) -> bytes:
    """``read_body`` for plain ASGI callers; ``ClientGone`` if the client leaves first."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise PayloadTooLarge(
                f"the body is {value.decode()} bytes; the limit is {limit} bytes", limit=limit
            )
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone("the client closed the connection before sending its whole body")
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


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonShape:
    """The most object members, strings and array items (beyond the first of each
    array) a kind of body may hold, counted as the bytes ``:``, ``"`` (two a string)
    and ``,``, which strings may contain too: generous bounds, never exact ones."""

    what: str
    members: int
    strings: int
    items: int

    def check(self, body: bytes) -> None:
        """``InvalidRequest`` if ``body`` holds more than the shape allows; reads it
        byte by byte in C, parsing nothing."""
        for name, byte, most in (
            ("object members", b":", self.members),
            ("strings", b'"', 2 * self.strings),
            ("array items", b",", self.items),
        ):
            count = body.count(byte)
            if count > most:
                raise InvalidRequest(
                    f"the body holds about {count:,} {name}; {self.what} holds at most "
                    f"{most:,}, so it was not read"
                )


async def decoded(body: bytes, convert: Callable[[Any], T], *, shape: JsonShape) -> T:
    """``convert`` of the parsed ``body``, once it fits ``shape``: checked, parsed and
    converted off the event loop when the body is large (``offloop``)."""

    def work() -> T:
        shape.check(body)
        return convert(parse_json(body))

    return await off_loop(work, size=len(body))


def parse_module_id(raw: str) -> UUID:
    """A module id, in its one spelling (``MODULE_ID``); ``InvalidModuleId`` otherwise."""
    if MODULE_ID.fullmatch(raw) is None:
        raise InvalidModuleId(
            f"{clipped(raw)!r} is not a module id: a module id is a UUID in its canonical "
            "form, 36 characters of lowercase hex digits and hyphens (8-4-4-4-12)"
        )
    return UUID(raw)


def media_type(request: Request) -> str:
    raw = request.headers.get("content-type", "")
    return raw.split(";", 1)[0].strip().lower()


def validate(model: type[ModelT], document: Any) -> ModelT:
    """Validate a parsed document against ``model``; InvalidRequest names the first few
    bad fields. Unknown fields are looked for first, in one pass, so a body of 700,000
    of them costs a set difference rather than 700,000 validation errors."""
    refuse_unknown(model, document)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        raise InvalidRequest(
            f"the request body is invalid: {listed(problems)}", errors=problems[:LISTED]
        ) from None


def refuse_unknown(model: type[BaseModel], document: Any, *, where: str = "") -> None:
    """``InvalidRequest`` naming the first few fields ``document`` has that ``model``
    (or a model nested in it) does not, when the model forbids extra fields."""
    if not isinstance(document, dict) or model.model_config.get("extra") != "forbid":
        return
    fields = model.model_fields
    allowed = set(fields) | {f.alias for f in fields.values() if f.alias}
    unknown = document.keys() - allowed
    if unknown:
        place = f" in {where}" if where else ""
        raise InvalidRequest(
            f"unknown field(s){place}: {listed_sorted(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}",
            **({"field": where} if where else {}),
        )
    for name, field in fields.items():
        nested = _model_in(field.annotation)
        if nested is not None and name in document:
            refuse_unknown(nested, document[name], where=f"{where}.{name}" if where else name)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model ``annotation`` names: itself, or the model of an ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for argument in typing.get_args(annotation):
            found = _model_in(argument)
            if found is not None:
                return found
    return None
