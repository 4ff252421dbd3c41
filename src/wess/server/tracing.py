"""Tracing as configured (``[tracing]``), opened with the server.

The tracer provider is a live resource: on the way out its batch processor hands over
the spans it still holds, then the exporter closes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from wess.config.tracing import TracingSettings
from wess.observability.tracing import Tracing


@contextmanager
def open_tracing(settings: TracingSettings, *, node: str | None) -> Iterator[Tracing | None]:
    """``Tracing`` as configured for the block (None when off); flushed and shut after."""
    if not settings.enabled:
        yield None
        return
    from wess.server.tracers import exporter_of, tracing_of  # the SDK: only when tracing

    tracing = tracing_of(settings, exporter_of(settings), node=node)
    try:
        yield tracing
    finally:
        tracing.processor.force_flush()
        tracing.processor.shutdown()
