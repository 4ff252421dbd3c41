"""Captures the examples of docs/debugging.md from a real Wess, in a fresh process.

Run as ``python -m tests.observability.debugging_capture``: it starts the app over real
components with JSON logs, tracing to memory and an access log, makes the requests the
page describes, and prints one JSON document: for each example, the log lines it wrote
(at the default level, info) or the outline of its trace. A fresh process, because
structlog keeps each logger bound to the configuration it first logged under.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from tests.fixtures import wasm
from wess.observability.logging import AccessLog, configure_logging
from wess.testing import SpanRecorder, open_client, test_settings
from wess.testing.tracing import outline

NODE = "node-1"


def trace_lines(spans: tuple[ReadableSpan, ...]) -> list[str]:
    """The trace as an outline: each span's name, then its attributes."""
    names = outline(spans)
    by_start = sorted(spans, key=lambda s: s.start_time or 0)
    ordered: list[ReadableSpan] = []
    for line in names:  # the outline's order, matched by name among the unused spans
        name = line.strip()
        span = next(s for s in by_start if s.name == name and s not in ordered)
        ordered.append(span)
    lines = []
    for line, span in zip(names, ordered, strict=True):
        attributes = " ".join(f"{k}={v}" for k, v in sorted((span.attributes or {}).items()))
        status = " [error]" if span.status.status_code.name == "ERROR" else ""
        lines.append(f"{line}{status}  {attributes}".rstrip())
    return lines


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream
        self.mark = 0

    def since(self) -> list[dict[str, Any]]:
        text = self.stream.getvalue()
        lines = [json.loads(line) for line in text[self.mark :].splitlines() if line.strip()]
        self.mark = len(text)
        return lines


async def capture() -> dict[str, Any]:
    stream = io.StringIO()
    configure_logging(level="info", format="json", stream=stream, fields={"node": NODE})
    recorder = SpanRecorder()
    logs = Captured(stream)
    examples: dict[str, Any] = {}
    settings = test_settings(WESS_RATELIMIT_PER_KEY="1000/minute")
    async with open_client(
        settings, tracing=recorder.tracing, access_log=AccessLog(stream)
    ) as client:
        wasm_type = {"content-type": "application/wasm"}
        created = await client.post(
            "/v1/modules?function=sum", content=wasm("sum"), headers=wasm_type
        )
        traps = await client.post("/v1/modules", content=wasm("traps"), headers=wasm_type)
        run = f"/v1/modules/{created.json()['id']}/run"
        await client.post(run, json={"args": [1, 2]})  # read and compile it once
        await asyncio.sleep(0)
        logs.since()
        recorder.clear()

        await client.post(run, json={"args": [1, 2]})
        await asyncio.sleep(0)  # the access log flushes once per loop turn
        examples["run-log"] = logs.since()
        examples["run-trace"] = trace_lines(recorder.spans())
        recorder.clear()

        trap = f"/v1/modules/{traps.json()['id']}/run"
        await client.post(trap, json={"function": "unreachable"})
        await asyncio.sleep(0)
        examples["trap-log"] = logs.since()
        examples["trap-trace"] = trace_lines(recorder.spans())
        recorder.clear()

        await client.post(run, json={"args": [1, 2]}, headers={"authorization": "Bearer wess_x"})
        await asyncio.sleep(0)
        examples["refused-log"] = logs.since()
    return examples


if __name__ == "__main__":
    sys.stdout.write(json.dumps(asyncio.run(capture())) + "\n")
