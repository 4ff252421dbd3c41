"""OpenAPI descriptions of bodies that handlers read by hand.

Handlers read bodies themselves (two upload forms, strict argument values), so FastAPI
cannot infer their schemas; these helpers declare them, and ``install`` adds the models
they reference to ``components.schemas``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from wess.api.problems import PROBLEM_CONTENT_TYPE
from wess.api.schemas import ModuleUpload, Problem, RunRequest

REF = "#/components/schemas/{model}"
EXTRA_MODELS: tuple[type[BaseModel], ...] = (ModuleUpload, RunRequest, Problem)

PROBLEM_DESCRIPTIONS = {
    400: "Invalid id, malformed JSON, invalid request or arguments",
    404: "No such module or function",
    408: "The call ran past its time limit",
    412: "If-Match did not match the module's current digest",
    413: "Body or module too large",
    415: "Unsupported content type",
    422: "Invalid module, unknown import, signature mismatch, trap or memory limit",
    503: "Overloaded or storage unavailable; retry after Retry-After seconds",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(model)}}}
    }


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/wasm": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": _ref(ModuleUpload)},
        },
    },
    "parameters": [
        {
            "name": "name",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Module name (application/wasm form).",
        },
        {
            "name": "function",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Default function (application/wasm form).",
        },
        {
            "name": "params",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Declared parameter types of the default function, e.g. i32,i32.",
        },
        {
            "name": "results",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Declared result types of the default function, e.g. i32.",
        },
    ],
}

LIST_PARAMETERS: dict[str, Any] = {
    "parameters": [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1},
            "description": "Page size.",
        },
        {
            "name": "cursor",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "next_cursor of the previous page.",
        },
    ],
}


def responses(
    success: int, model: type[BaseModel] | None, *problems: int, wasm: bool = False
) -> dict[int | str, dict[str, Any]]:
    """The documented responses of an operation: its success and its problem statuses."""
    documented: dict[int | str, dict[str, Any]] = {}
    if wasm:
        documented[success] = {
            "description": "The module bytes",
            "content": {"application/wasm": {"schema": {"type": "string", "format": "binary"}}},
        }
    elif model is not None:
        documented[success] = {"description": "Success", "model": model}
    else:
        documented[success] = {"description": "Success"}
    for status in problems:
        documented[status] = {
            "description": PROBLEM_DESCRIPTIONS.get(status, "Error"),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": _ref(Problem)}},
        }
    return documented


def install(app: FastAPI) -> None:
    """Generate the document once, with the hand-read bodies' models in components."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for model in EXTRA_MODELS:
                schema = model.model_json_schema(ref_template=REF)
                for name, definition in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, definition)
                schemas[model.__name__] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
