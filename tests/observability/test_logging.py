"""Structured logging: JSON lines with the documented fields, and never a crash."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from wess.observability.logging import NamedBytesLoggerFactory, configure_logging, set_levels


@pytest.fixture(autouse=True)
def _structlog_defaults_after():
    """Each test configures logging as a server does (loggers cached on first use); the
    defaults come back after it, so later tests' ``capture_logs`` sees every logger."""
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    logging.getLogger().setLevel(logging.WARNING)


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


def entries(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_logger_named_in_levels_writes_from_its_own_level_with_those_below_it():
    """``levels`` sets a logger's level and its descendants'; others keep the default."""
    stream = io.StringIO()
    configure_logging(
        level="info", format="json", stream=stream, levels={"wess.test.storage": "debug"}
    )
    try:
        structlog.get_logger("wess.test.storage.rocks").debug("written")
        structlog.get_logger("wess.test.storageless").debug("dropped: not below it")
        structlog.get_logger("wess.test.http").debug("dropped")
        structlog.get_logger("wess.test.http").info("kept")
    finally:
        set_levels("info")
    assert [e["event"] for e in entries(stream)] == ["written", "kept"]


def test_set_levels_changes_loggers_already_in_use_and_the_standard_librarys():
    """A reload's ``set_levels`` applies at once, to loggers cached on first use too,
    and to standard-library loggers (uvicorn's)."""
    stream = io.StringIO()
    configure_logging(level="info", format="json", stream=stream)
    logger = structlog.get_logger("wess.test.reloaded")
    try:
        logger.info("before")
        set_levels("warning")
        logger.info("dropped")
        logger.warning("kept")
        set_levels("info", {"wess.test.reloaded": "debug", "uvicorn.error": "error"})
        logger.debug("now written")
        assert logging.getLogger("uvicorn.error").getEffectiveLevel() == logging.ERROR
        set_levels("info")
        assert logging.getLogger("uvicorn.error").getEffectiveLevel() == logging.INFO
        logger.debug("dropped again")
    finally:
        set_levels("info")
    assert [e["event"] for e in entries(stream)] == ["before", "kept", "now written"]


def test_an_error_logs_its_whole_exception_chain():
    """The exception of an error line carries the chain (cause and context): the log
    is where it goes, responses never carry it (``assert_problem`` checks that)."""
    stream = io.StringIO()
    configure_logging(level="info", format="json", stream=stream)
    try:
        try:
            raise OSError("disk unplugged")
        except OSError as cause:
            raise RuntimeError("the write failed") from cause
    except RuntimeError:
        structlog.get_logger("wess.test.chain").exception("unhandled error")
    (entry,) = entries(stream)
    assert "OSError: disk unplugged" in str(entry["exception"])
    assert "direct cause" in str(entry["exception"])
    assert "RuntimeError: the write failed" in str(entry["exception"])


def test_set_levels_before_configure_logging_sets_the_standard_librarys():
    """Without Wess's logging configuration (an embedding program's own), ``set_levels``
    still sets the standard library's levels, and raises nothing."""
    structlog.reset_defaults()
    try:
        set_levels("warning", {"wess.test.embedded": "debug"})
        assert logging.getLogger().level == logging.WARNING
        assert logging.getLogger("wess.test.embedded").level == logging.DEBUG
    finally:
        configure_logging(level="info", format="json", stream=io.StringIO())
        logging.getLogger("wess.test.embedded").setLevel(logging.NOTSET)
