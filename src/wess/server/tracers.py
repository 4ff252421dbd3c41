"""The OpenTelemetry SDK's side of tracing: the provider, its sampler and exporter.

Imported only when tracing is enabled: the SDK and the OTLP exporters take a tenth of a
second to import, which a server that does not trace need not spend at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

import wess
from wess.config.tracing import TracingSettings


class DiscardingExporter(SpanExporter):
    """Takes finished spans and drops them, counting them: tracing's whole cost in
    process (making, batching, handing over) without a collector."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


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


def provider_of(
    settings: TracingSettings, exporter: SpanExporter, *, node: str | None
) -> TracerProvider:
    """A provider sampling ``sampling_ratio`` of new traces (a caller's sampled flag is
    followed), batching finished spans to ``exporter``."""
    attributes = {"service.name": settings.service_name, "service.version": wess.__version__}
    if node:
        attributes["service.instance.id"] = node
    provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(settings.sampling_ratio)),
        resource=Resource.create(attributes),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
