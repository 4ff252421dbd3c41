"""Rendering domain values as /v1 JSON documents, and the ETag of a module."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from wess.models import ModuleInfo
from wess.workers.runner import RunOutcome

JSON = "application/json"


def json_response(
    document: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type=JSON, headers=headers)


def etag(digest: str) -> str:
    """A strong ETag: the content digest, quoted."""
    return f'"{digest}"'


def parse_etag(header: str | None) -> str | None:
    """The digest an ``If-Match`` names (``*`` kept as is); None when absent."""
    if header is None:
        return None
    value = header.split(",", 1)[0].strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


def module_document(info: ModuleInfo) -> dict[str, Any]:
    return {
        "id": str(info.id),
        "name": info.name,
        "namespace": info.namespace,
        "digest": info.digest,
        "size": info.size,
        "revision": info.revision,
        "created_at": info.created_at.isoformat(),
        "updated_at": info.updated_at.isoformat(),
        "default_function": info.default_function,
        "functions": [
            {"name": f.name, "params": list(f.params), "results": list(f.results)}
            for f in info.functions
        ],
    }


def run_document(outcome: RunOutcome) -> dict[str, Any]:
    document: dict[str, Any] = {
        "results": outcome.results,
        "function": outcome.function,
        "duration_us": outcome.duration_us,
    }
    if outcome.fuel_used is not None:
        document["fuel_used"] = outcome.fuel_used
    if outcome.stdout:
        document["stdout"] = outcome.stdout.decode("utf-8", errors="replace")
    if outcome.stderr:
        document["stderr"] = outcome.stderr.decode("utf-8", errors="replace")
    if outcome.output_truncated:
        document["output_truncated"] = True
    return document
