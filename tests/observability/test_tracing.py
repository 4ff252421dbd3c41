"""OpenTelemetry traces: the span tree of a run, a create and refused requests, W3C
``traceparent`` propagation, the trace id in problem documents, and tracing off."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from tests.fixtures import wasm
from wess.config import load_settings
from wess.server.tracing import open_tracing
from wess.testing import SpanRecorder, assert_problem, open_client, test_settings

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
SAMPLED = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
NOT_SAMPLED = f"00-{CALLER_TRACE}-{CALLER_SPAN}-00"
RUN_ROUTE = "/v1/modules/{module_id}/run"
GATE = ["  auth", "    rate limit", "    rate limit"]
"""The guard: the client address's rate limit, the credential, the key's rate limit."""
WARM_RUN = [f"POST {RUN_ROUTE}", *GATE, "  cache lookup", "  instantiate", "  execute"]
"""A run of a module already read and compiled."""


def server_span(spans: tuple[ReadableSpan, ...]) -> ReadableSpan:
    (found,) = [s for s in spans if s.kind is SpanKind.SERVER]
    return found


def named(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (found,) = [s for s in spans if s.name == name]
    return found


async def upload(client: Any) -> str:
    response = await client.post(
        "/v1/modules", content=wasm("sum"), headers={"content-type": "application/wasm"}
    )
    assert response.status_code == 201, response.text
    module_id: str = response.json()["id"]
    return module_id


async def test_a_create_and_runs_are_one_trace_each_with_a_span_per_step():
    """A create traces the guard, the compile and the storage write; a first run the
    cache miss, the storage read and the compile, then instantiate and execute; a warm
    run only the guard, the cache lookup, instantiate and execute. A run that came with a
    sampled ``traceparent`` continues the caller's trace, under the caller's span."""
    recorder = SpanRecorder()
    async with open_client(test_settings(), tracing=recorder.tracing) as client:
        module_id = await upload(client)
        assert recorder.tree() == [
            "POST /v1/modules",
            *GATE,
            "  compile",
            "  storage write",
        ]
        created = server_span(recorder.spans())
        assert created.attributes is not None
        assert created.attributes["http.route"] == "/v1/modules"
        assert created.attributes["http.response.status_code"] == 201
        assert created.attributes["http.request.method"] == "POST"
        recorder.clear()

        body = {"function": "sum", "args": [1, 2]}
        path = f"/v1/modules/{module_id}/run"
        cold = await client.post(path, json=body, headers={"traceparent": SAMPLED})
        assert cold.json()["results"] == [3]
        spans = recorder.spans()
        assert {format(s.context.trace_id, "032x") for s in spans} == {CALLER_TRACE}
        request = server_span(spans)
        assert request.parent is not None
        assert format(request.parent.span_id, "016x") == CALLER_SPAN
        tree = recorder.tree()
        assert tree[: len(GATE) + 2] == [f"POST {RUN_ROUTE}", *GATE, "  cache lookup"]
        assert {"  storage read", "  compile", "  instantiate", "  execute"} <= set(tree)
        assert tree[-2:] == ["  instantiate", "  execute"]
        assert named(spans, "cache lookup").attributes == {
            "wess.cache": "modules",
            "wess.cache.hit": False,
        }
        recorder.clear()

        warm = await client.post(path, json=body)
        assert warm.status_code == 200
        assert recorder.tree() == WARM_RUN
        spans = recorder.spans()
        request = server_span(spans)
        assert request.parent is None  # no traceparent: a trace of its own
        assert request.attributes is not None
        assert request.attributes["http.route"] == RUN_ROUTE
        assert request.attributes["url.path"] == path
        assert request.attributes["http.response.status_code"] == 200
        execute = named(spans, "execute")
        assert execute.attributes is not None
        assert execute.attributes["wess.function"] == "sum"
        instantiate = named(spans, "instantiate")
        assert instantiate.end_time == execute.start_time  # the call's first part
        begun, ended = request.start_time or 0, request.end_time or 0
        for span in spans:
            assert begun <= (span.start_time or 0) <= (span.end_time or 0) <= ended
        recorder.clear()

        skipped = await client.post(path, json=body, headers={"traceparent": NOT_SAMPLED})
        assert skipped.status_code == 200
        assert recorder.spans() == ()  # the caller chose not to sample: no span at all


async def test_a_refused_request_traces_the_refusal_and_its_problem_names_the_trace():
    """A 401 is a trace of the guard (and the refusal's audit entry) whose auth span
    failed (``error.type``: the problem code); the server span's status stays unset (a
    4xx is the client's), and the problem document carries the trace id."""
    recorder = SpanRecorder()
    async with open_client(test_settings(), tracing=recorder.tracing, as_admin=False) as client:
        response = await client.post(
            "/v1/modules/0b7e3c58-7f5a-4a4c-9d0e-7b6b8a0b7e3c/run",
            json={"args": []},
            headers={"authorization": "Bearer wess_not_a_key", "traceparent": SAMPLED},
        )
        problem = assert_problem(response, 401, "unauthenticated")
        assert problem["trace_id"] == CALLER_TRACE
        assert recorder.tree() == [
            f"POST {RUN_ROUTE}",
            "  auth",
            "    rate limit",
            "    storage write",  # the refusal's audit entry
        ]
        spans = recorder.spans()
        auth = named(spans, "auth")
        assert auth.status.status_code is StatusCode.ERROR
        assert auth.attributes is not None
        assert auth.attributes["error.type"] == "unauthenticated"
        request = server_span(spans)
        assert request.status.status_code is StatusCode.UNSET
        assert request.attributes is not None
        assert request.attributes["http.response.status_code"] == 401


async def test_a_rate_limited_request_ends_at_its_failed_rate_limit_span():
    """A 429 is refused by the client address's rate limit: the trace shows that span
    failed with ``rate_limited``, and nothing after it ran."""
    recorder = SpanRecorder()
    settings = test_settings(WESS_RATELIMIT_PER_IP="1/minute")
    async with open_client(settings, tracing=recorder.tracing) as client:
        assert (await client.get("/v1/modules")).status_code == 200
        recorder.clear()
        response = await client.get("/v1/modules")
        problem = assert_problem(response, 429, "rate_limited")
        assert recorder.tree() == ["GET /v1/modules", "  auth", "    rate limit"]
        spans = recorder.spans()
        assert problem["trace_id"] == format(spans[0].context.trace_id, "032x")
        limit = named(spans, "rate limit")
        assert limit.attributes is not None
        assert limit.attributes["error.type"] == "rate_limited"
        assert limit.attributes["wess.ratelimit.scope"] == "ip"


async def test_with_tracing_off_no_trace_id_is_given_and_traceparent_is_ignored():
    """Off (the default), a problem document has no ``trace_id`` member."""
    async with open_client(test_settings(), as_admin=False) as client:
        response = await client.get("/v1/modules", headers={"traceparent": SAMPLED})
        problem = assert_problem(response, 401, "unauthenticated")
        assert "trace_id" not in problem


def test_the_tracing_section_reads_its_keys_from_the_environment():
    """``[tracing]`` is off by default; the environment sets every key; the endpoint
    defaults to the protocol's."""
    assert load_settings(env={}).settings.tracing.enabled is False
    settings = load_settings(
        env={
            "WESS_TRACING_ENABLED": "true",
            "WESS_TRACING_PROTOCOL": "grpc",
            "WESS_TRACING_SAMPLING_RATIO": "0.25",
            "WESS_TRACING_SERVICE_NAME": "wess-eu",
        }
    ).settings.tracing
    assert settings.enabled is True
    assert settings.sampling_ratio == 0.25
    assert settings.service_name == "wess-eu"
    assert settings.effective_endpoint == "http://localhost:4317"


def test_open_tracing_is_none_when_off_and_a_working_tracing_when_on():
    """Off: nothing is built. On with the discarding exporter: spans are made and
    handed to it, and closing the block flushes them."""
    off = load_settings(env={}).settings.tracing
    with open_tracing(off, node=None) as tracing:
        assert tracing is None
    on = load_settings(
        env={"WESS_TRACING_ENABLED": "1", "WESS_TRACING_EXPORTER": "discard"}
    ).settings.tracing
    with open_tracing(on, node="n-1") as tracing:
        assert tracing is not None
        request = tracing.request("GET", [], {"url.path": "/x"})
        with tracing.span("auth") as span:
            assert span is not None
        request.end(status=200, route="/x", method="GET")
        exporter = tracing.processor.exporter  # type: ignore[attr-defined]
    assert exporter.exported == 2  # handed over when the block closed


def test_the_span_batcher_exports_what_it_queued_and_counts_what_it_dropped():
    """Spans past ``max_queued`` are dropped and counted, never blocking a request; the
    rest reach the exporter in batches, at the latest when the batcher shuts down."""
    from opentelemetry.sdk.trace import ReadableSpan as Finished
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from wess.server.tracers import SpanBatcher

    exporter = InMemorySpanExporter()
    batcher = SpanBatcher(exporter, max_queued=3, batch=2, interval_s=3600)
    for number in range(5):
        batcher.on_end(Finished(f"span {number}"))
    assert batcher.dropped == 2
    assert exporter.get_finished_spans() == ()  # not before its interval, or shutdown
    batcher.shutdown()
    assert [s.name for s in exporter.get_finished_spans()] == ["span 0", "span 1", "span 2"]


def test_a_request_sampled_out_keeps_its_trace_id_and_makes_no_span():
    """At ``sampling_ratio = 0`` a new trace is not sampled: its id is still given (logs
    and problem documents name it), and no span of it reaches the processor."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from wess.observability.tracing import NO_SPAN, Tracing

    exporter = InMemorySpanExporter()
    tracing = Tracing(
        processor=SimpleSpanProcessor(exporter),
        resource=Resource.create({}),
        version="0",
        sampling_ratio=0.0,
    )
    request = tracing.request("GET", [], {})
    assert len(request.trace_id) == 32
    assert int(request.trace_id, 16) != 0
    assert tracing.span("auth") is NO_SPAN
    assert not tracing.recording()
    tracing.record("execute", start_ns=1, end_ns=2)
    request.end(status=200, route="/x", method="GET")
    assert exporter.get_finished_spans() == ()
