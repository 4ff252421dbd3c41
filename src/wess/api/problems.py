"""The one place where errors become HTTP responses.

/v1 and the operational routes answer RFC 9457 ``application/problem+json``; the
original Wess routes answer ``{"message": "<text>"}`` with the statuses the Rust server
used. Handlers raise ``WessError``s and never pick a status for an error themselves.
Unexpected exceptions become a bare 500: the traceback goes to the log with the
request id, never into a response.

Every detail and context value is bounded here, as a last guard: whoever raised an
error should already have named a few offenders rather than all of them
(``wess.runtime.reasons.listed``), but no answer grows with what a client sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from starlette.responses import Response

from wess import errors
from wess.runtime.reasons import LISTED, shortened

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:wess:problem:"
DETAIL_LIMIT = 1024
"""The longest detail, in characters; a longer one is cut between words, marked."""
CONTEXT_LIMIT = 256
"""The longest text in an extension member, in characters."""
CONTEXT_ITEMS = 4 * LISTED
"""The most items of a list in an extension member."""


@dataclass(frozen=True, slots=True)
class ProblemKind:
    status: int
    title: str
    legacy_status: int


# Most specific class first: the first isinstance match wins.
PROBLEMS: tuple[tuple[type[errors.WessError], ProblemKind], ...] = (
    (errors.InvalidModuleId, ProblemKind(400, "Invalid module id", 400)),
    (errors.MalformedJson, ProblemKind(400, "Malformed JSON", 400)),
    (errors.InvalidArguments, ProblemKind(400, "Invalid arguments", 400)),
    (errors.UnsupportedMediaType, ProblemKind(415, "Unsupported media type", 400)),
    (errors.MethodNotAllowed, ProblemKind(405, "Method not allowed", 405)),
    (errors.BadRequest, ProblemKind(400, "Bad request", 400)),
    (errors.PayloadTooLarge, ProblemKind(413, "Payload too large", 413)),
    (errors.InvalidWasm, ProblemKind(422, "Invalid WebAssembly module", 400)),
    (errors.UnknownImport, ProblemKind(422, "Unknown import", 400)),
    (errors.SignatureMismatch, ProblemKind(422, "Signature mismatch", 400)),
    (errors.CompileLimitExceeded, ProblemKind(422, "Compile limit exceeded", 400)),
    (errors.InvalidExports, ProblemKind(422, "Invalid exports", 400)),
    (errors.LinkError, ProblemKind(422, "Link error", 400)),
    (errors.ModuleRejected, ProblemKind(422, "Module rejected", 400)),
    (errors.ModuleNotFound, ProblemKind(404, "Module not found", 404)),
    (errors.FunctionNotFound, ProblemKind(404, "Function not found", 404)),
    (errors.KeyNotFound, ProblemKind(404, "API key not found", 404)),
    (errors.RevisionNotFound, ProblemKind(404, "Revision not found", 404)),
    (errors.AliasNotFound, ProblemKind(404, "Alias not found", 404)),
    (errors.InvocationNotFound, ProblemKind(404, "Invocation not found", 404)),
    (errors.KvKeyNotFound, ProblemKind(404, "Key not found", 404)),
    (errors.NotFound, ProblemKind(404, "Not found", 404)),
    (errors.PreconditionFailed, ProblemKind(412, "Precondition failed", 412)),
    (errors.NameTaken, ProblemKind(409, "Name taken", 409)),
    (errors.Conflict, ProblemKind(409, "Conflict", 409)),
    (errors.MisdirectedRequest, ProblemKind(421, "Misdirected request", 421)),
    (errors.OriginNotAllowed, ProblemKind(403, "Origin not allowed", 403)),
    (errors.Unauthenticated, ProblemKind(401, "Unauthenticated", 401)),
    (errors.PermissionDenied, ProblemKind(403, "Permission denied", 403)),
    (errors.RateLimited, ProblemKind(429, "Too many requests", 429)),
    (errors.QuotaExceeded, ProblemKind(507, "Quota exceeded", 507)),
    (errors.Trap, ProblemKind(422, "WebAssembly trap", 500)),
    (errors.MemoryLimitExceeded, ProblemKind(422, "Memory limit exceeded", 500)),
    (errors.ExecutionTimeout, ProblemKind(408, "Execution timed out", 500)),
    (errors.ExecutionError, ProblemKind(422, "Execution failed", 500)),
    (errors.DeadlineExceeded, ProblemKind(408, "Deadline exceeded", 408)),
    (errors.ModuleCircuitOpen, ProblemKind(503, "Module cooling down", 503)),
    (errors.NamespaceBusy, ProblemKind(503, "Namespace at its share", 503)),
    (errors.Overloaded, ProblemKind(503, "Overloaded", 503)),
    (errors.StorageCircuitOpen, ProblemKind(503, "Storage circuit open", 503)),
    (errors.RateLimitUnavailable, ProblemKind(503, "Rate limits unavailable", 503)),
    (errors.StorageTimeout, ProblemKind(503, "Storage timed out", 503)),
    (errors.StorageUnavailable, ProblemKind(503, "Storage unavailable", 503)),
    (errors.IntegrityError, ProblemKind(500, "Integrity error", 500)),
    (errors.StorageError, ProblemKind(500, "Storage error", 500)),
    # nginx's "client closed request": for logs and metrics, as nobody is left to read it
    (errors.ClientGone, ProblemKind(499, "Client closed request", 499)),
)
RETRY_AFTER = (
    errors.Overloaded,
    errors.ModuleCircuitOpen,
    errors.StorageCircuitOpen,
    errors.RateLimitUnavailable,
    errors.StorageTimeout,
)
"""The refusals that know when to come back: their ``retry_after`` is the header."""
INTERNAL = ProblemKind(500, "Internal server error", 500)
INTERNAL_DETAIL = "An unexpected error occurred; the request id identifies it in the server log."


def kind_of(exc: BaseException) -> ProblemKind:
    """The HTTP shape of an error (500 for anything Wess did not raise on purpose)."""
    if isinstance(exc, errors.WessError):
        for cls, kind in PROBLEMS:
            if isinstance(exc, cls):
                return kind
    return INTERNAL


def code_of(exc: BaseException) -> str:
    return exc.code if isinstance(exc, errors.WessError) else errors.WessError.code


def problem_body(
    exc: BaseException,
    *,
    request_id: str,
    instance: str | None = None,
    trace_id: str | None = None,
) -> dict[str, object]:
    """The RFC 9457 document for ``exc``; extension members carry its safe context, and
    the request's ``trace_id`` while tracing is on."""
    kind = kind_of(exc)
    code = code_of(exc)
    body: dict[str, object] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": kind.title,
        "status": kind.status,
        "detail": detail_of(exc),
        "code": code,
        "request_id": request_id,
    }
    if trace_id is not None:
        body["trace_id"] = trace_id
    if instance is not None:
        body["instance"] = instance
    if isinstance(exc, errors.WessError):
        for key, value in exc.context.items():
            if key not in body and _is_plain(value):
                body[key] = _bounded(value)
    return body


def detail_of(exc: BaseException) -> str:
    """The detail an answer carries: the error's own, bounded (``DETAIL_LIMIT``)."""
    if not isinstance(exc, errors.WessError):
        return INTERNAL_DETAIL
    return shortened(exc.detail, limit=DETAIL_LIMIT)


def problem_response(
    exc: BaseException,
    *,
    request_id: str,
    instance: str | None = None,
    trace_id: str | None = None,
) -> Response:
    body = problem_body(exc, request_id=request_id, instance=instance, trace_id=trace_id)
    return Response(
        orjson.dumps(body),
        status_code=int(str(body["status"])),
        media_type=PROBLEM_CONTENT_TYPE,
        headers=_headers(exc),
    )


def legacy_response(exc: BaseException) -> Response:
    """The original Wess error shape: ``{"message": "<text>"}``."""
    kind = kind_of(exc)
    return Response(
        orjson.dumps({"message": detail_of(exc)}),
        status_code=kind.legacy_status,
        media_type="application/json",
        headers=_headers(exc),
    )


def _headers(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, errors.RateLimited):
        return {
            "Retry-After": str(exc.retry_after),
            "RateLimit-Limit": str(exc.context.get("limit", "")),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(exc.context.get("reset", exc.retry_after)),
        }
    if isinstance(exc, RETRY_AFTER):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, errors.Unauthenticated):
        return {"WWW-Authenticate": 'Bearer realm="wess"'}
    if isinstance(exc, errors.StorageUnavailable):
        return {"Retry-After": "5"}
    return {}


def _bounded(value: object) -> object:
    if isinstance(value, str):
        return shortened(value, limit=CONTEXT_LIMIT)
    if isinstance(value, list | tuple):
        return [_bounded(item) for item in value[:CONTEXT_ITEMS]]
    return value


def _is_plain(value: object) -> bool:
    if isinstance(value, str | int | float | bool) or value is None:
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(item) for item in value)
    return False
