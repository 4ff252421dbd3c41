"""Spans kept in memory, for tests of what Wess traces (and for trying it out).

``SpanRecorder`` is a ``Tracing`` over the OpenTelemetry SDK's ``InMemorySpanExporter``
(every trace sampled unless its caller's ``traceparent`` says otherwise, each span
handed over as it ends): pass ``recorder.tracing`` to
``open_client`` and read ``recorder.spans()`` or ``recorder.tree()`` afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import wess
from wess.observability.tracing import Tracing


class SpanRecorder:
    """A ``Tracing`` whose finished spans stay in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracing = Tracing(
            processor=SimpleSpanProcessor(self.exporter),
            resource=Resource.create({"service.name": "wess"}),
            version=wess.__version__,
        )

    def spans(self) -> tuple[ReadableSpan, ...]:
        """Every span finished so far, in the order they ended."""
        return self.exporter.get_finished_spans()

    def clear(self) -> None:
        self.exporter.clear()

    def tree(self, trace_id: int | None = None) -> list[str]:
        """The spans of one trace (the last one's when None) as an indented outline,
        children in the order they started: ``["GET /x", "  auth", ...]``."""
        spans = self.spans()
        if not spans:
            return []
        wanted = trace_id if trace_id is not None else spans[-1].context.trace_id
        return outline([s for s in spans if s.context.trace_id == wanted])


def outline(spans: Sequence[ReadableSpan]) -> list[str]:
    """``spans`` (one trace) as indented names, each under its parent."""
    ids = {s.context.span_id for s in spans}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent if parent in ids else None, []).append(span)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_time or 0):
            lines.append("  " * depth + span.name)
            walk(span.context.span_id, depth + 1)

    walk(None, 0)
    return lines
