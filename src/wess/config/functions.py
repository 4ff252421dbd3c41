"""The configuration's sections about calling functions in bulk: batches (and, beside
them, asynchronous invocations and key-value state)."""

from __future__ import annotations

from pydantic import Field

from wess.config.section import Section as _Section

BATCH_ITEMS = 10_000
"""Calls one batch may hold by default."""
BATCH_BODY = 16 << 20
"""Bytes of one batch request's body by default."""


class BatchSettings(_Section):
    RELOADABLE = frozenset()  # read when the workers and routes are built
    max_items: int = Field(
        BATCH_ITEMS,
        ge=1,
        le=1_000_000,
        description="Calls one `POST /v1/modules/{id}/run:batch` may hold; more is refused "
        "(413 payload_too_large) before any runs.",
    )
    max_body: int = Field(
        BATCH_BODY,
        ge=1024,
        le=1 << 30,
        description="Bytes of a batch request's body (JSON or NDJSON); more is refused (413).",
    )
    concurrency: int = Field(
        0,
        ge=0,
        le=4096,
        description="Calls of one batch running or waiting for a thread at once (0: the "
        "namespace's share of the invocation pool, runner.namespace_concurrency); never "
        "more than that share, so a batch takes its turns like other calls.",
    )


class InvocationsSettings(_Section):
    RELOADABLE = frozenset()  # read when the workers and routes are built
    retention: float = Field(
        86_400.0,
        gt=0,
        le=366 * 86_400,
        description="Seconds a finished asynchronous invocation (succeeded, failed, dead) "
        "is kept, with its result, before it is pruned.",
    )
    lease: float = Field(
        30.0,
        ge=0.1,
        le=3600,
        description="Seconds a node holds an invocation it runs without renewing its lease "
        "(renewed every third of it); a node that stops (crash, kill -9) loses it then, "
        "and any node takes it again. Longer than server.request_timeout_ms.",
    )
    poll: float = Field(
        0.5,
        ge=0.01,
        le=60,
        description="Seconds between looks at the queue when nothing woke the worker "
        "(a new invocation on this node wakes it at once).",
    )
    concurrency: int = Field(
        4,
        ge=1,
        le=4096,
        description="Asynchronous invocations one node runs at once (each also takes "
        "its namespace's turn in the invocation pool).",
    )
    max_attempts: int = Field(
        10, ge=1, le=100, description="The most attempts an invocation may ask for (retry)."
    )
    backoff_initial: float = Field(
        1.0,
        ge=0,
        le=3600,
        description="Seconds before a retry after the first failed attempt; doubled after "
        "each further one.",
    )
    backoff_max: float = Field(
        300.0, ge=0, le=86_400, description="The longest wait before a retry, seconds."
    )


class KvSettings(_Section):
    RELOADABLE = frozenset()  # read when the workers and routes are built
    max_key_bytes: int = Field(
        512, ge=1, le=65_536, description="Bytes of UTF-8 in a key of wess:kv@1 and /v1/kv."
    )
    max_value_bytes: int = Field(
        1 << 20,
        ge=1,
        le=1 << 30,
        description="Bytes of one value (a larger set fails TOO_LARGE, a larger PUT 413).",
    )
    max_namespace_bytes: int = Field(
        64 << 20,
        ge=1,
        le=1 << 40,
        description="A namespace's key-value quota: keys' and values' bytes together; a "
        "write past it fails QUOTA (a guest) or 507 quota_exceeded (/v1/kv).",
    )
    max_list: int = Field(
        1000, ge=1, le=100_000, description="Keys one list answers at most (guest or API)."
    )
    call_timeout_ms: int = Field(
        1000,
        ge=1,
        le=60_000,
        description="How long one wess:kv@1 host call waits for the store, ms; past it the "
        "call answers UNAVAILABLE (the guest's thread is never held longer).",
    )
