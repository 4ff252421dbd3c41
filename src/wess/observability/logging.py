"""Structured logs: JSON lines, or a readable console format on a TTY.

Every line has ``level``, ``timestamp``, ``logger`` and ``event``; the request id and
the module id are bound in context variables by the HTTP middleware and the service,
so they appear on every line written while a request is handled. Standard-library
loggers (uvicorn's) go through the same renderer.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


def configure_logging(*, level: str, format: str, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library through one renderer on ``stream``.

    ``format`` is ``json``, ``console`` or ``auto`` (console when ``stream`` is a TTY).
    Exceptions are rendered into the log line (``exception`` field), never into a
    response.
    """
    out = stream if stream is not None else sys.stderr
    use_console = format == "console" or (format == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    final: list[Any] = [] if use_console else [structlog.processors.format_exc_info]

    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *final,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers[:] = []
        named.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # Wess logs each request itself
