"""The ``[tracing]`` section: OpenTelemetry traces, off unless enabled."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from wess.config.section import Section

DEFAULT_ENDPOINTS = {
    "http/protobuf": "http://localhost:4318/v1/traces",
    "grpc": "http://localhost:4317",
}
"""Where a collector listens by default, by protocol (the OpenTelemetry defaults)."""


class TracingSettings(Section):
    RELOADABLE = frozenset()  # the tracer provider and its exporter are made at start-up

    enabled: bool = Field(
        False,
        description="Make a trace of each request (spans for the HTTP request, auth, rate "
        "limits, the cache, storage, compile, instantiate and execute) and export it. Off: "
        "no span is made and a `traceparent` header is ignored.",
    )
    endpoint: str = Field(
        "",
        max_length=2048,
        description="The OTLP collector's address; empty: the protocol's default "
        "(http://localhost:4318/v1/traces for http/protobuf, http://localhost:4317 for grpc).",
    )
    protocol: Literal["http/protobuf", "grpc"] = Field(
        "http/protobuf", description="OTLP transport: http/protobuf or grpc."
    )
    exporter: Literal["otlp", "discard"] = Field(
        "otlp",
        description="Where finished spans go: otlp (to tracing.endpoint), or discard (made "
        "and batched, then dropped in process: to measure what tracing costs).",
    )
    sampling_ratio: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Share of requests traced (by trace id; a request whose `traceparent` "
        "says sampled or not follows its caller's choice).",
    )
    service_name: str = Field(
        "wess",
        min_length=1,
        max_length=256,
        description="The `service.name` of the spans' resource.",
    )

    @field_validator("protocol", "exporter", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("endpoint", mode="before")
    @classmethod
    def _unset_is_default(cls, value: object) -> object:
        return "" if value is None else value

    @property
    def effective_endpoint(self) -> str:
        """The endpoint spans are sent to (the protocol's default when none is set)."""
        return self.endpoint or DEFAULT_ENDPOINTS[self.protocol]
