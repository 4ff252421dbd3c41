"""Answering a failed request: count it, log it, shape it for the API it came through."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.responses import Response
from starlette.types import Scope

from wess.api import problems
from wess.api.middleware import request_id_of, trace_id_of
from wess.errors import WessError
from wess.observability.metrics import Metrics

logger = structlog.get_logger("wess.http")

LEGACY_TAG = "original Wess API"


def error_response(
    scope: Scope, exc: WessError, metrics: Metrics, headers: dict[str, str] | None = None
) -> Response:
    """The response for ``exc``: ``{"message"}`` on the original routes, a problem else."""
    metrics.errors.labels(code=exc.code).inc()
    structlog.contextvars.bind_contextvars(outcome=exc.code)  # in the request's access line
    kind = problems.kind_of(exc)
    log = logger.warning if kind.status >= 500 else logger.debug
    log("request failed", code=exc.code, status=kind.status, detail=exc.detail)
    if is_legacy(scope):
        response = problems.legacy_response(exc)
    else:
        response = problems.problem_response(
            exc,
            request_id=request_id_of(scope),
            instance=scope.get("path"),
            trace_id=trace_id_of(scope),
        )
    if headers:
        response.headers.update(headers)
    return response


def is_legacy(scope: Scope) -> bool:
    route: Any = scope.get("route")
    return LEGACY_TAG in (getattr(route, "tags", None) or ())
