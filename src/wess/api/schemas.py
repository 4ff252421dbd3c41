"""Request and response documents of /v1, as pydantic models.

Requests are validated with these models; responses are rendered by
``wess.api.resources`` straight to JSON (no per-response validation on the hot path)
and these models describe them in ``/openapi.json``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

from wess.models import Role, ValueType
from wess.runtime.limits import BY_NAME, PER_CALL

JsonNumber = int | float | Literal["NaN", "Infinity", "-Infinity"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MAX_DECLARED_TYPES = 1000
"""WebAssembly's own bound on a function's parameters, and on its results."""


class DeclaredSignature(_Strict):
    params: list[ValueType] | None = Field(
        None, max_length=MAX_DECLARED_TYPES, description="Declared parameter types."
    )
    results: list[ValueType] | None = Field(
        None, max_length=MAX_DECLARED_TYPES, description="Declared result types."
    )


class ModuleUpload(_Strict):
    """The JSON form of an upload; the other form is the raw bytes as application/wasm."""

    name: str | None = Field(None, min_length=1, max_length=128, examples=["adder"])
    content: str = Field(..., description="The module bytes, base64 (standard alphabet).")
    function: str | None = Field(
        None, description="Default function, run when a call names none.", examples=["sum"]
    )
    signature: DeclaredSignature | None = Field(
        None,
        description="What the client expects the default function to look like; "
        "rejected with 422 when the module disagrees.",
    )


def _lowered(name: str) -> Any:
    spec = BY_NAME[name]
    return (
        int | None,
        Field(
            None,
            ge=spec.minimum,
            le=spec.maximum,
            description=f"{spec.description} ({spec.unit}); at most the configured value.",
        ),
    )


RunLimitsDocument: type[BaseModel] = create_model(
    "RunLimitsDocument",
    __base__=_Strict,
    __doc__="Limits lowered for this call only (``wess.runtime.limits.PER_CALL``).",
    **{name: _lowered(name) for name in PER_CALL},
)


class RunRequest(_Strict):
    function: str | None = Field(None, examples=["sum"])
    args: list[Any] = Field(
        default_factory=list,
        examples=[[1, 2]],
        description="Numbers for a core module's function; for a component's, JSON values "
        "of its WIT types (docs/components.md).",
    )
    limits: RunLimitsDocument | None = None


class KeyRequest(BaseModel):
    """The body of ``POST /v1/keys``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    namespace: str = Field(..., min_length=1, max_length=64, examples=["team-a"])
    role: Role
    name: str = Field("", max_length=128, description="A label for people, e.g. ci-deploy.")
    expires_at: AwareDatetime | None = Field(None, description="RFC 3339 with an offset.")


class BatchRequest(_Strict):
    """Many calls of one function: one argument array per call."""

    function: str | None = Field(None, examples=["sum"])
    args: list[list[JsonNumber]] = Field(..., examples=[[[1, 2], [3, 4]]])
    limits: RunLimitsDocument | None = None


class RetryDocument(_Strict):
    attempts: int = Field(1, ge=1, examples=[3])
    on: list[str] = Field(default_factory=list, examples=[["timeout", "trap"]])


class InvocationRequest(_Strict):
    """One asynchronous call: a run's fields, and how to retry it."""

    function: str | None = Field(None, examples=["sum"])
    args: list[JsonNumber] = Field(default_factory=list, examples=[[1, 2]])
    limits: RunLimitsDocument | None = None
    retry: RetryDocument | None = None


class FunctionDocument(BaseModel):
    name: str
    params: list[ValueType] = Field(
        ..., description="A core module function's parameter types (empty for a component's)."
    )
    results: list[ValueType]
    wit: str | None = Field(
        None,
        description="A component's function: its component-model type in WIT; its "
        "arguments and results are JSON values of those types (docs/components.md).",
        examples=["func(who: string) -> string"],
    )


class ModuleSummary(BaseModel):
    """A module as a listing shows it: everything but the function catalogue."""

    id: str
    name: str
    namespace: str
    digest: str = Field(..., examples=["sha256:9f86d0..."])
    size: int
    revision: int
    created_at: datetime
    updated_at: datetime
    default_function: str | None
    function_count: int = Field(..., description="How many functions the module exports.")


class ModuleBreaker(BaseModel):
    """The module's circuit breaker, while its calls are refused or being probed."""

    state: Literal["open", "half_open"] = Field(
        ...,
        description="open: calls are refused (503 module_circuit_open); half_open: the "
        "next call tries the module again.",
    )
    failures: int = Field(..., description="Calls that timed out or trapped in a row.")
    retry_after: int | None = Field(
        None, description="Seconds until a call may try the module again (while open)."
    )


class AliasDocument(BaseModel):
    """An alias: one revision, or a weighted split between several (a canary)."""

    model_config = ConfigDict(extra="forbid")

    revision: int | None = Field(None, ge=1, examples=[3])
    weights: dict[str, int] | None = Field(
        None,
        description="Revision number -> weight (1 to 1,000,000).",
        examples=[{"3": 90, "4": 10}],
    )


class ModuleResource(ModuleSummary):
    """A module: its summary and its function catalogue; ``breaker`` only while its calls
    kept timing out or trapping (runner.breaker_failures in a row)."""

    functions: list[FunctionDocument]
    aliases: dict[str, AliasDocument] = Field(
        default_factory=dict, description="The module's aliases by name."
    )
    breaker: ModuleBreaker | None = None


class RevisionDocument(BaseModel):
    """One retained revision of a module (immutable; runnable until pruned)."""

    revision: int
    digest: str
    size: int
    created_at: datetime
    current: bool
    aliases: list[str] = Field(..., description="The aliases pointing at it.")


class RevisionPage(BaseModel):
    """Retained revisions, oldest first; ``next_cursor`` continues the listing."""

    items: list[RevisionDocument]
    next_cursor: str | None


class AliasList(BaseModel):
    aliases: dict[str, AliasDocument]


class ModulePage(BaseModel):
    """One page of a listing: at most ``limit`` summaries and ``limits.max_page_bytes``
    bytes; ``next_cursor`` continues it (null on the last page)."""

    items: list[ModuleSummary]
    next_cursor: str | None


class RunResult(BaseModel):
    results: list[Any] = Field(
        ..., description="Numbers from a core module; a component's result as JSON (0 or 1 item)."
    )
    function: str
    duration_us: int
    fuel_used: int | None = Field(None, description="Present when fuel metering applies.")
    revision: int | None = Field(
        None, description="The revision that ran (also the Wess-Revision header)."
    )
    stdout: str | None = Field(None, description="Captured WASI stdout, when any.")
    stderr: str | None = Field(None, description="Captured WASI stderr, when any.")
    output_truncated: bool | None = Field(
        None, description="True when stdout/stderr exceeded the capture limit."
    )


class Problem(BaseModel):
    """RFC 9457 problem details, with Wess's stable ``code`` and the ``request_id``."""

    type: str = Field(..., examples=["urn:wess:problem:module_not_found"])
    title: str
    status: int
    detail: str
    code: str
    request_id: str
    trace_id: str | None = Field(
        None,
        description="The request's OpenTelemetry trace id (32 hex digits), while tracing is "
        "on (`[tracing] enabled`).",
    )
    kind: str | None = Field(None, description="The trap kind, on trap problems.")


class Health(BaseModel):
    status: str
    checks: dict[str, str] | None = None
    breakers: dict[str, Any] | None = Field(
        None,
        description="Each circuit breaker (storage_reads, storage_writes, ratelimit_redis): "
        "state closed, open or half_open, failures in a row, retry_after while open; and "
        "modules_open, the modules whose calls are refused now (readiness only).",
    )


class LegacyMetadataDocument(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    functionName: str
    returnType: list[str]
    args: list[str]


class LegacyModule(BaseModel):
    wasm: list[int] = Field(..., description="The module bytes as integers 0..255.")
    metadata: LegacyMetadataDocument


class LegacyRunResult(BaseModel):
    """The original API's answer to a run: the results, wrapped."""

    message: list[JsonNumber] = Field(..., examples=[[3]])


class LegacyError(BaseModel):
    """The original API's error shape."""

    message: str = Field(..., examples=["module 9b1d... not found"])
