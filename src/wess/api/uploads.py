"""Turning the two /v1 upload forms (raw bytes, JSON with base64) into an ``Upload``."""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request

from wess.api.bodies import media_type, parse_json, read_body, validate
from wess.api.schemas import ModuleUpload
from wess.api.state import ApiState
from wess.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from wess.models import ValueType
from wess.service import Upload

WASM_TYPES = frozenset({"application/wasm", "application/octet-stream"})
JSON_TYPE = "application/json"
UPLOAD_PARAMETERS = frozenset({"name", "function", "params", "results"})


async def read_upload(request: Request, state: ApiState) -> Upload:
    kind = media_type(request)
    if kind in WASM_TYPES:
        query = request.query_params
        unknown = set(query) - UPLOAD_PARAMETERS
        if unknown:  # namespace, owner, revision ... are Wess's to set, never the client's
            raise InvalidRequest(
                f"unknown query parameter(s): {', '.join(sorted(unknown))}; "
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
        document = validate(
            ModuleUpload, parse_json(await read_body(request, limit=state.max_json_body))
        )
        wasm = _base64(document.content)
        if len(wasm) > state.max_module_size:
            raise PayloadTooLarge(
                f"the module is {len(wasm)} bytes; the limit is {state.max_module_size} bytes",
                limit=state.max_module_size,
            )
        signature = document.signature
        return Upload(
            wasm=wasm,
            name=document.name,
            default_function=document.function,
            declared_params=tuple(signature.params)
            if signature and signature.params is not None
            else None,
            declared_results=tuple(signature.results)
            if signature and signature.results is not None
            else None,
        )
    shown = kind or "none"
    raise UnsupportedMediaType(
        f"content-type {shown} is not accepted; send application/wasm (the module bytes) "
        'or application/json ({"content": "<base64>", ...})'
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
            f"{field}={raw!r}: each type must be one of {allowed}", field=field
        ) from None


def _base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            "content must be the module bytes in standard base64", field="content"
        ) from None
