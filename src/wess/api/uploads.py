"""Turning the two /v1 upload forms (raw bytes, JSON with base64) into an ``Upload``.

The JSON form is parsed, validated and base64-decoded in one step, off the event loop
when the body is large (``bodies.decoded``): a body may be several megabytes.
"""

from __future__ import annotations

import base64
import binascii
from functools import partial
from typing import Any

from starlette.requests import Request

from wess.api.bodies import JsonShape, decoded, media_type, read_body, validate
from wess.api.schemas import MAX_DECLARED_TYPES, ModuleUpload
from wess.api.state import ApiState
from wess.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from wess.models import ValueType
from wess.runtime.reasons import clipped, listed_sorted
from wess.uploading import Upload

WASM_TYPES = frozenset({"application/wasm", "application/octet-stream"})
JSON_TYPE = "application/json"
UPLOAD_PARAMETERS = frozenset({"name", "function", "params", "results"})
NAME_SLACK = 4096
"""Colons, commas and quotes that names may hold, in a shape's bounds."""
UPLOAD_SHAPE = JsonShape(
    what="a module upload",
    members=NAME_SLACK,
    strings=2 * MAX_DECLARED_TYPES + NAME_SLACK,
    items=2 * MAX_DECLARED_TYPES + NAME_SLACK,
)
"""A handful of fields, the declared types, and the bytes as one base64 string."""


async def read_upload(request: Request, state: ApiState) -> Upload:
    kind = media_type(request)
    if kind in WASM_TYPES:
        query = request.query_params
        unknown = set(query) - UPLOAD_PARAMETERS
        if unknown:  # namespace, owner, revision ... are Wess's to set, never the client's
            raise InvalidRequest(
                f"unknown query parameter(s): {listed_sorted(unknown)}; "
                f"allowed: {', '.join(sorted(UPLOAD_PARAMETERS))}"
            )
        wasm = await read_body(request, limit=state.max_module_size)
        return Upload(
            wasm=wasm,
            name=query.get("name"),
            default_function=query.get("function"),
            declared_params=_types(query.get("params"), "params"),
            declared_results=_types(query.get("results"), "results"),
        )
    if kind == JSON_TYPE:
        body = await read_body(request, limit=state.max_json_body)
        return await decoded(
            body, partial(json_upload, max_module_size=state.max_module_size), shape=UPLOAD_SHAPE
        )
    shown = kind or "none"
    raise UnsupportedMediaType(
        f"content-type {shown} is not accepted; send application/wasm (the module bytes) "
        'or application/json ({"content": "<base64>", ...})'
    )


def json_upload(document: Any, *, max_module_size: int) -> Upload:
    """The upload a parsed JSON document describes, validated and its bytes decoded."""
    upload = validate(ModuleUpload, document)
    wasm = _base64(upload.content)
    if len(wasm) > max_module_size:
        raise PayloadTooLarge(
            f"the module is {len(wasm)} bytes; the limit is {max_module_size} bytes",
            limit=max_module_size,
        )
    signature = upload.signature
    return Upload(
        wasm=wasm,
        name=upload.name,
        default_function=upload.function,
        declared_params=tuple(signature.params)
        if signature and signature.params is not None
        else None,
        declared_results=tuple(signature.results)
        if signature and signature.results is not None
        else None,
    )


def _types(raw: str | None, field: str) -> tuple[ValueType, ...] | None:
    if raw is None:
        return None
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    try:
        return tuple(ValueType(name) for name in names)
    except ValueError:
        allowed = ", ".join(ValueType)
        raise InvalidRequest(
            f"{field}={clipped(raw)!r}: each type must be one of {allowed}", field=field
        ) from None


def _base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            "content must be the module bytes in standard base64", field="content"
        ) from None
