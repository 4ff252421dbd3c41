"""Structured logs: JSON lines, or a readable console format on a TTY.

Every line has ``level``, ``timestamp``, ``logger`` and ``event``; the request id and
the module id are bound in context variables by the HTTP middleware and the service,
so they appear on every line written while a request is handled.

Wess's own loggers write through structlog's native byte logger with an orjson
renderer: no standard-library ``logging`` on the way, which made an access-log line
cost about 50 µs (more than the whole rest of a small request). Standard-library
loggers (uvicorn's) still work, rendered into the same shape by a
``ProcessorFormatter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO

import orjson
import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

TIMESTAMPER = structlog.processors.TimeStamper(fmt="iso", utc=True)
PRE_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    TIMESTAMPER,
]


class NamedBytesLogger:
    """Writes rendered lines to a binary stream; knows its own name (for ``logger``).

    Logging never raises: a closed stream, a full disk or a broken pipe (the log
    collector died) must not take down the component that logged, such as the Writer
    in the middle of a batch. The line is dropped and counted in ``dropped``, and the
    first failure is reported once on the process's original stderr.
    """

    __slots__ = ("_lock", "_state", "_stream", "name")

    def __init__(self, stream: BinaryIO, name: str, lock: threading.Lock, state: DropState) -> None:
        self._stream = stream
        self._lock = lock
        self._state = state
        self.name = name

    def msg(self, message: bytes | str) -> None:
        data = message if isinstance(message, bytes) else message.encode()
        with self._lock:
            try:
                self._stream.write(data + b"\n")
                self._stream.flush()
            except (OSError, ValueError) as exc:
                self._state.dropped(exc)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class DropState:
    """Counts log lines that could not be written; tells stderr about the first one."""

    def __init__(self) -> None:
        self.count = 0

    def dropped(self, exc: BaseException) -> None:
        self.count += 1
        fallback = sys.__stderr__
        if self.count == 1 and fallback is not None:
            with contextlib.suppress(Exception):
                fallback.write(f"wess: log lines are being dropped: {exc!r}\n")


class LogLevels:
    """The lowest level written, by default and for named loggers (with the loggers
    below them: ``wess.storage`` covers ``wess.storage.rocks``); ``set`` changes them
    for every logger at once, structlog's and the standard library's."""

    def __init__(self, level: str = "info", levels: Mapping[str, str] | None = None) -> None:
        self._named: dict[str, int] = {}
        self._thresholds: dict[str, int] = {}
        self.default = LEVELS[level]
        self.set(level, levels)

    def set(self, level: str, levels: Mapping[str, str] | None = None) -> None:
        """Write ``level`` and above, and for each logger in ``levels`` its own level."""
        named = {name: LEVELS[value] for name, value in (levels or {}).items()}
        for name in self._named.keys() - named.keys():  # no longer set: inherit again
            logging.getLogger(name).setLevel(logging.NOTSET)
        for name, value in named.items():
            logging.getLogger(name).setLevel(value)
        logging.getLogger().setLevel(LEVELS[level])
        # replaced whole, never changed in place: a reader on another thread sees the old
        # table or the new one
        self.default, self._named, self._thresholds = LEVELS[level], named, {}

    def threshold(self, name: str) -> int:
        """The lowest level logger ``name`` writes."""
        found = self._thresholds.get(name)
        if found is None:
            found = self._resolve(name)
            self._thresholds[name] = found
        return found

    def _resolve(self, name: str) -> int:
        named = self._named
        candidate = name
        while candidate:
            if candidate in named:
                return named[candidate]
            candidate = candidate.rpartition(".")[0]
        return self.default


def leveled_logger(levels: LogLevels) -> type[structlog.BoundLoggerBase]:
    """A structlog bound-logger class that asks ``levels`` on every call, by the name of
    the logger it wraps (``structlog.make_filtering_bound_logger`` fixes one level for
    good: a logger cached on first use would never see a change)."""

    def method(level: int, name: str) -> Any:
        def log(self: Any, event: str | None = None, *args: Any, **kw: Any) -> Any:
            if level < levels.threshold(getattr(self._logger, "name", "")):
                return None
            if args:
                event = event % args if event is not None else event
            return self._proxy_to_logger(name, event, **kw)

        log.__name__ = name
        return log

    def exception(self: Any, event: str | None = None, *args: Any, **kw: Any) -> Any:
        kw.setdefault("exc_info", True)
        return method(logging.ERROR, "error")(self, event, *args, **kw)

    def log(self: Any, level: int, event: str | None = None, *args: Any, **kw: Any) -> Any:
        name = logging.getLevelName(level).lower()
        return method(level, name)(self, event, *args, **kw)

    methods: dict[str, Any] = {
        "debug": method(logging.DEBUG, "debug"),
        "info": method(logging.INFO, "info"),
        "msg": method(logging.INFO, "info"),
        "warning": method(logging.WARNING, "warning"),
        "warn": method(logging.WARNING, "warning"),
        "error": method(logging.ERROR, "error"),
        "err": method(logging.ERROR, "error"),
        "critical": method(logging.CRITICAL, "critical"),
        "fatal": method(logging.CRITICAL, "critical"),
        "exception": exception,
        "log": log,
    }
    return type("LeveledBoundLogger", (structlog.BoundLoggerBase,), methods)


class NamedBytesLoggerFactory:
    """``structlog.get_logger(__name__)`` -> a ``NamedBytesLogger`` named after the module.

    It holds the ``LogLevels`` of the configuration it belongs to (``set_levels``)."""

    def __init__(self, stream: BinaryIO, levels: LogLevels | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.drops = DropState()
        self.levels = levels or LogLevels()

    def __call__(self, *args: Any) -> NamedBytesLogger:
        name = str(args[0]) if args else "wess"
        return NamedBytesLogger(self._stream, name, self._lock, self.drops)


def add_logger_name(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict.setdefault("logger", getattr(logger, "name", "wess"))
    return event_dict


def _json(event_dict: Any, **_: Any) -> bytes:
    return orjson.dumps(event_dict, default=repr)


class _TextAsBinary:
    """A text stream (a test's StringIO) seen as a binary one."""

    def __init__(self, text: TextIO) -> None:
        self._text = text

    def write(self, data: bytes) -> int:
        return self._text.write(data.decode("utf-8", errors="replace"))

    def flush(self) -> None:
        self._text.flush()


def _binary(stream: TextIO) -> BinaryIO:
    buffer = getattr(stream, "buffer", None)
    return buffer if buffer is not None else _TextAsBinary(stream)  # type: ignore[return-value]


def configure_logging(
    *,
    level: str,
    format: str,
    stream: TextIO | None = None,
    fields: Mapping[str, str] | None = None,
    levels: Mapping[str, str] | None = None,
) -> LogLevels:
    """Route structlog and the standard library to ``stream`` (stderr by default);
    answer the levels in force, which ``set_levels`` changes later.

    ``format`` is ``json``, ``console`` or ``auto`` (console when ``stream`` is a TTY).
    Exceptions are rendered into the log line (``exception`` field), never into a
    response. ``fields`` go into every line (the node id, say), from any thread; they
    are also bound in the calling context, for the lines that bypass structlog (the
    access log) of the tasks started from it. ``levels`` names loggers written from
    another level than ``level`` (``{"wess.storage": "debug"}``).
    """
    previous = structlog.get_config()["logger_factory"]
    # the levels of an earlier configuration carry on: loggers cached under it ask them
    log_levels = previous.levels if isinstance(previous, NamedBytesLoggerFactory) else LogLevels()
    constant: list[Any] = [] if not fields else [_Constant(fields)]
    if fields:
        structlog.contextvars.bind_contextvars(**fields)
    out = stream if stream is not None else sys.stderr
    use_console = format == "console" or (format == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if use_console
        else structlog.processors.JSONRenderer(serializer=_json)
    )
    exceptions: list[Any] = [] if use_console else [structlog.processors.format_exc_info]
    structlog.configure(
        processors=[*PRE_CHAIN, *constant, add_logger_name, *exceptions, renderer],
        wrapper_class=leveled_logger(log_levels),
        logger_factory=NamedBytesLoggerFactory(_binary(out), log_levels),
        cache_logger_on_first_use=True,
    )
    standard = logging.StreamHandler(out)
    standard.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*PRE_CHAIN, *constant, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *exceptions,
                structlog.dev.ConsoleRenderer(colors=out.isatty())
                if use_console
                else structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [standard]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers[:] = []
        named.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # Wess logs each request itself
    log_levels.set(level, levels)  # the standard library's loggers too
    return log_levels


def set_levels(level: str, levels: Mapping[str, str] | None = None) -> None:
    """Change the levels written, at once, for every logger (a configuration reload
    calls this with ``logging.level`` and ``logging.levels``). Before
    ``configure_logging`` only the standard library's loggers have levels to change."""
    factory = structlog.get_config()["logger_factory"]
    if isinstance(factory, NamedBytesLoggerFactory):
        factory.levels.set(level, levels)
    else:
        LogLevels().set(level, levels)


class _Constant:
    """A structlog processor adding the same fields to every line that lacks them."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self._fields = dict(fields)

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        for name, value in self._fields.items():
            event.setdefault(name, value)
        return event


class AccessLog:
    """One line per HTTP request, cheap enough for the hot path.

    In JSON mode the line (the same fields and shape as every other log line, plus the
    request's context) is rendered by one ``orjson.dumps`` and written to the binary
    stream, skipping structlog's processor chain; the stream is flushed once per event
    loop turn rather than once per line, so a burst of requests costs one write system
    call. A crash loses at most the lines of the turn in progress. In console mode
    (a developer's terminal) it logs through structlog like everything else.
    """

    def __init__(self, stream: TextIO | None = None, *, json: bool = True) -> None:
        out = stream if stream is not None else sys.stderr
        self._binary = _binary(out) if json else None
        self._logger = structlog.get_logger("wess.http")
        self._flush_scheduled = False
        self.drops = DropState()

    def __call__(self, **fields: Any) -> None:
        if self._binary is None:
            self._logger.info("request", **fields)
            return
        fields.update(structlog.contextvars.get_contextvars())
        fields["event"] = "request"
        fields["level"] = "info"
        fields["logger"] = "wess.http"
        fields["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        try:
            self._binary.write(orjson.dumps(fields, default=repr) + b"\n")
        except (OSError, ValueError) as exc:
            self.drops.dropped(exc)
            return
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self._flush)
            except RuntimeError:  # no loop in this thread: flush now
                self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        try:
            self._binary.flush()  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            self.drops.dropped(exc)
