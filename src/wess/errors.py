"""The one exception tree of Wess.

Every error Wess raises on purpose is a ``WessError``. Foreign errors (rocksdict,
wasmtime, psycopg) are translated once, in the adapter that calls them. Each class
carries a stable machine ``code``; the mapping to HTTP statuses lives in
``wess.api.problems`` and nowhere else.

    WessError
    ├── BadRequest                      the request itself is wrong
    │   ├── InvalidModuleId
    │   ├── MalformedJson
    │   ├── InvalidRequest              a field is missing, of the wrong type or out of range
    │   ├── InvalidArguments            wrong argument count, type or range for a function
    │   ├── UnsupportedMediaType
    │   └── MethodNotAllowed
    ├── PayloadTooLarge
    ├── ModuleRejected                  an upload that Wess will not store
    │   ├── InvalidWasm
    │   ├── UnknownImport
    │   ├── SignatureMismatch
    │   ├── CompileLimitExceeded
    │   ├── InvalidExports              too many exports, or names too long or not printable
    │   └── LinkError                   a linked module is missing, lacks a function, or links back
    ├── NotFound                        also: no such route
    │   ├── ModuleNotFound
    │   ├── FunctionNotFound
    │   ├── RevisionNotFound            a revision never made, or pruned
    │   ├── AliasNotFound
    │   ├── InvocationNotFound
    │   ├── KvKeyNotFound
    │   └── KeyNotFound
    ├── Conflict                        the request clashes with what is stored
    │   └── NameTaken                   another module of the namespace has that name
    ├── PreconditionFailed              If-Match did not match
    ├── ExecutionError                  the guest failed while running
    │   ├── Trap
    │   ├── MemoryLimitExceeded
    │   └── ExecutionTimeout
    ├── DeadlineExceeded                the request's deadline passed; ``layer`` says where
    ├── MisdirectedRequest              the Host names a site this server is not (DNS rebinding)
    ├── OriginNotAllowed                a web page of another origin sent the request
    ├── Unauthenticated                 no credentials, or credentials that do not verify
    ├── PermissionDenied                authenticated, but the role lacks the permission
    ├── RateLimited                     a client or key sent too many requests; retry later
    ├── QuotaExceeded                   a namespace used up a quota; waiting does not help
    ├── Overloaded                      a bounded queue is full; retry later
    │   └── NamespaceBusy               a namespace has its whole share of a pool in use
    ├── ModuleCircuitOpen               a module kept timing out or trapping: cooling down
    ├── StorageError
    │   ├── StorageUnavailable
    │   │   ├── StorageCircuitOpen      storage kept failing: refused at once, cooling down
    │   │   ├── StorageTimeout          a commit is overdue: ``applied`` says if the write may land
    │   │   └── RateLimitUnavailable    Redis rate-limit counters failing, policy "closed"
    │   ├── IntegrityError              stored bytes do not match their digest, or are corrupt
    │   └── MigrationRequired           the store is in an older layout: `wess migrate`
    ├── ClientGone                      the client left before sending its whole request
    ├── ServerUnreachable               wess.client found no Wess server at its URL
    ├── ConfigError                     a configuration value is invalid
    ├── CannotListen                    the server's address is taken, or not its to bind
    └── ServerStopped                   the machine refused to run the server, or a bug
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class WessError(Exception):
    """Root of every error Wess raises on purpose."""

    code: ClassVar[str] = "internal_error"

    def __init__(self, detail: str, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.context: Mapping[str, Any] = context

    def __str__(self) -> str:
        return self.detail


# -- the request ------------------------------------------------------------------------------


class BadRequest(WessError):
    code = "bad_request"


class InvalidModuleId(BadRequest):
    code = "invalid_module_id"


class MalformedJson(BadRequest):
    code = "malformed_json"


class InvalidRequest(BadRequest):
    code = "invalid_request"


class InvalidArguments(BadRequest):
    code = "invalid_arguments"


class UnsupportedMediaType(BadRequest):
    code = "unsupported_media_type"


class MethodNotAllowed(BadRequest):
    code = "method_not_allowed"


class PayloadTooLarge(WessError):
    code = "payload_too_large"


# -- uploads ----------------------------------------------------------------------------------


class ModuleRejected(WessError):
    code = "module_rejected"


class InvalidWasm(ModuleRejected):
    code = "invalid_wasm"


class UnknownImport(ModuleRejected):
    code = "unknown_import"


class SignatureMismatch(ModuleRejected):
    code = "signature_mismatch"


class CompileLimitExceeded(ModuleRejected):
    code = "compile_limit_exceeded"


class LinkError(ModuleRejected):
    code = "link_error"


class InvalidExports(ModuleRejected):
    """More exports than the configured cap, or export names that are too long or not
    printable: refused before compiling, because every name is stored and served."""

    code = "invalid_exports"


# -- lookups ----------------------------------------------------------------------------------


class NotFound(WessError):
    code = "not_found"


class ModuleNotFound(NotFound):
    code = "module_not_found"


class FunctionNotFound(NotFound):
    code = "function_not_found"


class RevisionNotFound(NotFound):
    code = "revision_not_found"


class AliasNotFound(NotFound):
    code = "alias_not_found"


class InvocationNotFound(NotFound):
    code = "invocation_not_found"


class KvKeyNotFound(NotFound):
    code = "kv_key_not_found"


class KeyNotFound(NotFound):
    code = "key_not_found"


class Conflict(WessError):
    code = "conflict"


class NameTaken(Conflict):
    code = "name_taken"


class PreconditionFailed(WessError):
    code = "precondition_failed"


# -- execution --------------------------------------------------------------------------------


class ExecutionError(WessError):
    code = "execution_error"


class Trap(ExecutionError):
    """The guest trapped; ``kind`` names the trap (``unreachable``, ``out_of_fuel`` ...)."""

    code = "trap"

    def __init__(self, detail: str, *, kind: str, **context: Any) -> None:
        super().__init__(detail, kind=kind, **context)
        self.kind = kind


class MemoryLimitExceeded(ExecutionError):
    code = "memory_limit_exceeded"


class ExecutionTimeout(ExecutionError):
    code = "timeout"


class DeadlineExceeded(WessError):
    """The request's deadline (``server.request_timeout_ms``, or the client's
    ``Request-Timeout-Ms``) passed; ``layer`` names the stage it passed in: ``queue``
    (waiting for a slot), ``storage`` (reading the module), ``compile`` or ``execution``
    (the call's time limit was cut to the time left, and it ran out)."""

    code = "deadline_exceeded"

    def __init__(self, detail: str, *, layer: str, **context: Any) -> None:
        super().__init__(detail, layer=layer, **context)
        self.layer = layer


# -- access -----------------------------------------------------------------------------------


class MisdirectedRequest(WessError):
    """The ``Host`` header names a site this server does not serve (``server.allowed_hosts``):
    what a DNS-rebinding page sends, or a proxy that passes a name nobody configured."""

    code = "host_not_allowed"


class OriginNotAllowed(WessError):
    """A browser sent the request from a page of another origin that is not allowed
    (``server.cors_origins``): a cross-site request, refused before it does anything."""

    code = "origin_not_allowed"


class Unauthenticated(WessError):
    """The credentials are missing or do not verify.

    ``reason`` (a ``wess.security.failures.AuthFailure`` value) and ``subject`` (the key
    id or ``kid`` presented, if any) are for logs and ``wess_auth_failures_total{reason}``
    only. They are attributes, not context, because context reaches the response body,
    and a response must not tell an unknown key from a wrong secret.
    """

    code = "unauthenticated"

    def __init__(self, detail: str, *, reason: str, subject: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.subject = subject


class PermissionDenied(WessError):
    """The caller is known but its role lacks the permission (never for other namespaces)."""

    code = "permission_denied"


class RateLimited(WessError):
    """A client or key exceeded its rate limit. ``retry_after`` is in whole seconds."""

    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, **context: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **context)
        self.retry_after = retry_after


class QuotaExceeded(WessError):
    """A namespace reached a quota (modules, bytes); deleting or a larger quota helps."""

    code = "quota_exceeded"


# -- capacity and storage ---------------------------------------------------------------------


class Overloaded(WessError):
    """A bounded queue is full. ``retry_after`` is a hint in seconds."""

    code = "overloaded"

    def __init__(self, detail: str, *, retry_after: int = 1, **context: Any) -> None:
        super().__init__(detail, **context)
        self.retry_after = retry_after


class NamespaceBusy(Overloaded):
    """One namespace has as many calls (or compiles) waiting and running as its fair
    share of a pool allows; others are still served. ``retry_after`` is a hint in
    seconds."""

    code = "namespace_busy"


class ModuleCircuitOpen(WessError):
    """The module's recent calls kept timing out or trapping (``runner.breaker_failures``
    in a row): its calls are refused at once until its cool-down ends
    (``runner.breaker_cooldown``); ``retry_after`` is the seconds left."""

    code = "module_circuit_open"

    def __init__(self, detail: str, *, retry_after: int, **context: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **context)
        self.retry_after = retry_after


class StorageError(WessError):
    code = "storage_error"


class StorageUnavailable(StorageError):
    code = "storage_unavailable"


class StorageCircuitOpen(StorageUnavailable):
    """Storage failed ``database.breaker_failures`` times in a row: what needs it is
    refused at once until a probe after the cool-down finds it back; ``retry_after`` is
    the seconds left."""

    code = "storage_circuit_open"

    def __init__(self, detail: str, *, retry_after: int, **context: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **context)
        self.retry_after = retry_after


class StorageTimeout(StorageUnavailable):
    """A commit has not returned within ``writer.commit_timeout_ms``: storage has
    stalled. ``applied`` is False for a write withdrawn before storage saw it (or
    refused while a commit is overdue), "unknown" for one storage holds (it lands if
    storage answers); ``retry_after`` is a hint in seconds."""

    code = "storage_timeout"

    def __init__(self, detail: str, *, retry_after: int, **context: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **context)
        self.retry_after = retry_after


class RateLimitUnavailable(StorageUnavailable):
    """The Redis rate-limit counters cannot be reached and ``ratelimit.on_redis_failure``
    is ``closed``: requests are refused rather than served uncounted."""

    code = "ratelimit_unavailable"

    def __init__(self, detail: str, *, retry_after: int, **context: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **context)
        self.retry_after = retry_after


class IntegrityError(StorageError):
    code = "integrity_error"


class MigrationRequired(StorageError):
    """The store is in a layout this Wess reads only after ``wess migrate`` (start-up)."""

    code = "migration_required"


class ClientGone(WessError):
    """The client closed the connection before sending its whole request: a client abort,
    not a failure of Wess. Nothing can be answered; logs and metrics record status 499
    (nginx's "client closed request")."""

    code = "client_closed_request"


class ServerUnreachable(WessError):
    """``wess.client`` could not reach a Wess server at the URL it was given (refused,
    timed out, TLS failed): never an answer of a server."""

    code = "server_unreachable"


class ConfigError(WessError):
    code = "config_error"


class CannotListen(WessError):
    """The server cannot listen on its address (in use, not this machine's, privileged)."""

    code = "cannot_listen"


class ServerStopped(WessError):
    """The server could not start or run for a reason that is no Wess error (the machine
    refused: a permission, a full disk; or a bug): one sentence, details in the log."""

    code = "server_stopped"
