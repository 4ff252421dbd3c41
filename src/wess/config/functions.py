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
