"""What ``/openapi.json`` adds to FastAPI's document: the bearer scheme, and examples.

**Security.** The document declares one scheme, ``bearer`` (an API key ``wess_...`` or
a JWT in ``Authorization: Bearer``), required by every operation, so Swagger UI's
Authorize button sends it. Public operations (``x-wess-permission: public``) say
``security: []``; ``/metrics`` may be open or keyed (``auth.metrics``), so either.

**Examples.** Every operation's example request (parameters and body) and response
come from a real run of the app: ``tests/api/test_openapi_examples.py`` drives each
operation, and writes what it sent and got to ``examples.json`` beside this module
(``UPDATE_OPENAPI_EXAMPLES=1``); its tests fail when an operation has no example or
an example no longer has the shape the app answers.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib.resources import files
from typing import Any

from wess.api.guard import PERMISSION_KEY
from wess.security.rbac import Permission

EXAMPLES_FILE = "examples.json"
SCHEME = "bearer"
SECURITY_SCHEMES = {
    SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "A Wess API key (`wess_...`, from `wess keys create` or the admin "
        "key file) or, when configured, a JWT.",
    }
}
REQUIRED: list[dict[str, list[str]]] = [{SCHEME: []}]
OPTIONAL: list[dict[str, list[str]]] = [{SCHEME: []}, {}]
"""Either the bearer token or nothing (``/metrics``: open or keyed by configuration)."""
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def operation_key(method: str, path: str) -> str:
    """How ``examples.json`` names an operation: ``"POST /v1/modules"``."""
    return f"{method.upper()} {path}"


@cache
def load_examples() -> dict[str, Any]:
    """The captured examples, by ``operation_key``."""
    text = files("wess.api").joinpath(EXAMPLES_FILE).read_text(encoding="utf-8")
    examples: dict[str, Any] = json.loads(text)
    return examples


def complete(document: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with the security scheme and the examples of ``examples``."""
    document = copy.deepcopy(document)  # parameters are shared module-level dicts
    document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    document["security"] = REQUIRED
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            permission = operation.get(PERMISSION_KEY)
            if permission == Permission.PUBLIC.value:
                operation["security"] = []
            elif permission == Permission.METRICS_READ.value:
                operation["security"] = OPTIONAL
            example = examples.get(operation_key(method, path))
            if example is not None:
                _apply(operation, example)
    return document


def _apply(operation: dict[str, Any], example: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", ()):
        if parameter.get("name") in example.get("parameters", {}):
            parameter["example"] = example["parameters"][parameter["name"]]
    request = example.get("request")
    body = operation.get("requestBody", {}).get("content", {})
    if request is not None and request["content_type"] in body:
        body[request["content_type"]]["example"] = request["body"]
    response = example["response"]
    documented = operation.get("responses", {}).get(response["status"])
    if documented is not None and response.get("content_type") is not None:
        content = documented.setdefault("content", {})
        content.setdefault(response["content_type"], {})["example"] = response["body"]
