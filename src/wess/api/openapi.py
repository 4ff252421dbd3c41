"""OpenAPI descriptions of what FastAPI cannot infer.

Handlers read bodies themselves (two upload forms, strict argument values), so FastAPI
cannot infer their schemas; these helpers declare them. The run routes' endpoints are
plain ASGI apps, which FastAPI does not describe at all: their routes carry an
``Operation`` instead. ``install`` adds those operations to the document, and the models
everything references to ``components.schemas``; ``examples`` adds the bearer security
scheme and an example request and response to every operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.routing import BaseRoute, Route

from wess.api import examples
from wess.api.problems import PROBLEM_CONTENT_TYPE
from wess.api.schemas import KeyRequest, LegacyError, ModuleUpload, Problem, RunRequest

REF = "#/components/schemas/{model}"
EXTRA_MODELS: tuple[type[BaseModel], ...] = (ModuleUpload, RunRequest, KeyRequest, Problem)
"""The models request bodies name by reference (``json_body``), which FastAPI does not
see: each must be in the document's components, or its reference dangles."""
MODULE_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "uuid",
    "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
}
"""A module id: a UUID in its canonical, lowercase form (anything else is 400
invalid_module_id)."""
MODULE_ID_PARAMETER: dict[str, Any] = {
    "name": "module_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The module's id (a UUID), or its name in the caller's namespace.",
}
SELECTOR_PARAMETERS: tuple[dict[str, Any], ...] = (
    {
        "name": "revision",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1},
        "description": "Run a retained revision instead of the current one.",
    },
    {
        "name": "alias",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "Run the revision the alias names (a weighted alias draws one; "
        "the response's revision and Wess-Revision header say which).",
    },
)

TIMEOUT_PARAMETER: dict[str, Any] = {
    "name": "Request-Timeout-Ms",
    "in": "header",
    "required": False,
    "schema": {"type": "integer", "minimum": 1},
    "description": "The run's deadline in milliseconds, for its read, compile, waits and "
    "call together; server.request_timeout_ms when absent, and at most that. Past it: "
    "408 deadline_exceeded, with the layer that ran out.",
}
LEGACY_ID_PARAMETER: dict[str, Any] = {
    **MODULE_ID_PARAMETER,
    "schema": {"type": "string", "format": "uuid"},
    "description": "The module's id (the original API knows ids only).",
}
RUN_PARAMETERS = (MODULE_ID_PARAMETER, *SELECTOR_PARAMETERS, TIMEOUT_PARAMETER)
LEGACY_RUN_PARAMETERS = (LEGACY_ID_PARAMETER, TIMEOUT_PARAMETER)

PROBLEM_DESCRIPTIONS = {
    400: "Invalid id, malformed JSON, invalid request or arguments",
    404: "No such module or function",
    408: "The call ran past its time limit, or the request past its deadline",
    412: "If-Match did not match the module's current digest",
    413: "Body or module too large",
    415: "Unsupported content type",
    422: "Invalid module, unknown import, signature mismatch, trap or memory limit",
    503: "Overloaded, storage unavailable, or a circuit open (the module's or storage's); "
    "retry after Retry-After seconds",
}
LEGACY_DESCRIPTIONS = {
    **PROBLEM_DESCRIPTIONS,
    400: "Invalid id, malformed JSON, invalid arguments, or an invalid module",
    500: "A trap, the time limit or the memory limit (the original API's status)",
    408: "The request ran past its deadline (Request-Timeout-Ms, server.request_timeout_ms)",
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One operation as ``/openapi.json`` shows it, declared beside a route whose
    endpoint is a plain ASGI app. ``responses`` is what ``responses`` returns; ``extra``
    holds the ``x-wess-*`` members (``guard.requires``), which the guard reads too."""

    operation_id: str
    summary: str
    description: str
    tags: tuple[str, ...]
    request_body: dict[str, Any]
    responses: dict[int | str, dict[str, Any]]
    extra: dict[str, str]
    parameters: tuple[dict[str, Any], ...] = (MODULE_ID_PARAMETER,)

    def document(self) -> dict[str, Any]:
        responses: dict[str, Any] = {}
        for status, response in self.responses.items():
            shown = {key: value for key, value in response.items() if key != "model"}
            if "model" in response:
                shown["content"] = {"application/json": {"schema": _ref(response["model"])}}
            responses[str(status)] = shown
        return {
            "tags": list(self.tags),
            "summary": self.summary,
            "description": self.description,
            "operationId": self.operation_id,
            "parameters": list(self.parameters),
            "requestBody": self.request_body,
            "responses": responses,
            **self.extra,
        }

    def response_models(self) -> list[type[BaseModel]]:
        return [response["model"] for response in self.responses.values() if "model" in response]


def legacy_responses(model: type[BaseModel], *errors: int) -> dict[int | str, dict[str, Any]]:
    """The documented responses of an original-API operation: errors are ``{"message"}``."""
    documented: dict[int | str, dict[str, Any]] = {200: {"description": "Success", "model": model}}
    for status in errors:
        documented[status] = {
            "description": LEGACY_DESCRIPTIONS.get(status, "Error"),
            "model": LegacyError,
        }
    return documented


def install(app: FastAPI, routes: Iterable[BaseRoute] = ()) -> None:
    """Generate the document once: FastAPI's operations, the ``Operation`` of each of
    ``routes`` that has one, and every model they reference in components."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            models = list(EXTRA_MODELS)
            paths = document.setdefault("paths", {})
            for route in routes:
                operation = getattr(route, "operation", None)
                if isinstance(route, Route) and isinstance(operation, Operation):
                    for method in route.methods or ():
                        paths.setdefault(route.path, {})[method.lower()] = operation.document()
                    models.extend(operation.response_models())
            _module_ids(paths)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(ref_template=REF)
                for name, definition in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, definition)
                schemas[model.__name__] = schema
            app.openapi_schema = examples.complete(document, examples.load_examples())
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]


def _module_ids(paths: dict[str, Any]) -> None:
    """Every ``module_id`` path parameter of the original API as the one schema of a
    module id (FastAPI's routes take it as a plain string, to answer a malformed one
    with Wess's own 400); /v1 paths also take a module's name, and keep a plain string."""
    for path, operations in paths.items():
        if path.startswith("/v1/"):
            continue
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "path" and parameter.get("name") == "module_id":
                    parameter["schema"] = dict(MODULE_ID_SCHEMA)
