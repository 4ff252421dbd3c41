"""Structured logging: JSON lines with the documented fields, and never a crash."""

from __future__ import annotations

import io
import json

import structlog

from wess.observability.logging import NamedBytesLoggerFactory, configure_logging, log_lines


def test_json_lines_carry_level_time_logger_and_context():
    """Each line is JSON with level, timestamp, logger, event and the bound context."""
    stream = io.StringIO()
    configure_logging(level="info", format="json", stream=stream)
    structlog.contextvars.bind_contextvars(request_id="r-1", module_id="m-1")
    try:
        structlog.get_logger("wess.test.fields").info("CREATE m-1", extra=1)
    finally:
        structlog.contextvars.clear_contextvars()
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["event"] == "CREATE m-1"
    assert entry["level"] == "info"
    assert entry["logger"] == "wess.test.fields"
    assert entry["request_id"] == "r-1"
    assert entry["module_id"] == "m-1"
    assert "timestamp" in entry


def test_a_broken_log_stream_never_raises_and_counts_dropped_lines():
    """A closed stream (or a broken pipe) drops the line instead of raising into the
    caller: a logging failure must not stop the Writer mid-batch."""
    closed = io.BytesIO()
    closed.close()
    factory = NamedBytesLoggerFactory(closed)
    logger = factory("wess.test")
    logger.msg(b'{"event": "lost"}')
    logger.msg("also lost")
    assert factory.drops.count == 2


async def test_access_lines_are_json_with_context_and_flushed_per_loop_turn():
    """An access line has the usual fields plus the request's context, and reaches the
    stream by the end of the event loop turn that wrote it."""
    import asyncio

    from wess.observability.logging import AccessLog

    stream = io.StringIO()
    access = AccessLog(stream)
    structlog.contextvars.bind_contextvars(request_id="r-9")
    try:
        access(method="GET", route="/healthz", path="/healthz", status=200, duration_ms=0.1)
    finally:
        structlog.contextvars.clear_contextvars()
    await asyncio.sleep(0)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["event"] == "request"
    assert entry["status"] == 200
    assert entry["request_id"] == "r-9"
    assert {"level", "timestamp", "logger"} <= set(entry)


def test_lines_logged_in_one_go_read_like_any_other_line() -> None:
    """``log_lines`` (the Writer's per-batch path) writes JSON lines with the fields,
    level, logger, timestamp and bound context every line has, in the order given."""
    stream = io.StringIO()
    configure_logging(level="info", format="json", stream=stream)
    structlog.contextvars.bind_contextvars(node="n1")
    try:
        logger = structlog.get_logger("wess.test.lines")
        log_lines(logger, "wess.test.lines", [("CREATE a", {"module_id": "a"}), ("DELETE b", {})])
    finally:
        structlog.contextvars.unbind_contextvars("node")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "CREATE a"
    assert first["module_id"] == "a"
    assert (first["level"], first["logger"], first["node"]) == ("info", "wess.test.lines", "n1")
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "DELETE b"
