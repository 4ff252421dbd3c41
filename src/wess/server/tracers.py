"""The OpenTelemetry SDK's side of tracing: the exporter, and the batcher feeding it.

Imported only when tracing is enabled: the SDK and the OTLP exporters take a tenth of a
second to import, which a server that does not trace need not spend at start-up.

Finished spans go to ``SpanBatcher``, not to the SDK's ``BatchSpanProcessor``: on the
request's side a span costs one bounded append to a queue, where the SDK's processor
checks the process id, the queue and its worker on every span (about a fifth of what
tracing cost a run request). A thread of its own hands the queue to the exporter in
batches, a few times a second.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

import structlog
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import wess
from wess.config.tracing import TracingSettings
from wess.observability.tracing import Tracing

logger = structlog.get_logger(__name__)

QUEUED_SPANS = 32768
"""Finished spans held for the exporter before new ones are dropped (and counted)."""
EXPORT_BATCH = 1024
"""The most spans in one export."""
EXPORT_INTERVAL_S = 0.1
"""How often the queue is handed over: a busy server's spans of a tenth of a second."""


class DiscardingExporter(SpanExporter):
    """Takes finished spans and drops them, counting them: tracing's whole cost in
    process (making, batching, handing over) without a collector."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


class SpanBatcher(SpanProcessor):
    """A span processor that queues finished spans and exports them in batches from a
    thread of its own; ``shutdown`` exports what is left, then closes the exporter."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queued: int = QUEUED_SPANS,
        batch: int = EXPORT_BATCH,
        interval_s: float = EXPORT_INTERVAL_S,
    ) -> None:
        self.exporter = exporter
        self.dropped = 0
        self._queue: deque[ReadableSpan] = deque()
        self._max_queued = max_queued
        self._batch = batch
        self._interval_s = interval_s
        self._reported = 0
        self._exporting = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wess-spans", daemon=True)
        self._thread.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if len(self._queue) < self._max_queued:
            self._queue.append(span)
        else:
            self.dropped += 1

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._export()
        return True

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join()
        self._export()
        self.exporter.shutdown()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._export()

    def _export(self) -> None:
        queue = self._queue
        with self._exporting:
            while queue:
                batch = [queue.popleft() for _ in range(min(len(queue), self._batch))]
                try:
                    self.exporter.export(batch)
                except Exception:  # an exporter must not stop tracing for good
                    logger.exception("span export failed", spans=len(batch))
            if self.dropped > self._reported:
                logger.warning(
                    "spans dropped: the exporter falls behind",
                    dropped=self.dropped - self._reported,
                    queued_at_most=self._max_queued,
                )
                self._reported = self.dropped


def exporter_of(settings: TracingSettings) -> SpanExporter:
    """The exporter ``settings`` name: OTLP over HTTP or gRPC, or the discarding one."""
    if settings.exporter == "discard":
        return DiscardingExporter()
    endpoint = settings.effective_endpoint
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=endpoint)


def tracing_of(settings: TracingSettings, exporter: SpanExporter, *, node: str | None) -> Tracing:
    """Tracing sampling ``sampling_ratio`` of new traces (a caller's sampled flag is
    followed), batching finished spans to ``exporter``."""
    attributes = {"service.name": settings.service_name, "service.version": wess.__version__}
    if node:
        attributes["service.instance.id"] = node
    return Tracing(
        processor=SpanBatcher(exporter),
        sampling_ratio=settings.sampling_ratio,
        resource=Resource.create(attributes),
        version=wess.__version__,
    )
