"""The ``logging`` section: the level written, per logger too (reloadable), and the format."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from wess.config.section import Section as _Section

LogLevel = Literal["debug", "info", "warning", "error"]
LoggerName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
]
"""A logger's dotted name, like ``wess.storage`` or ``uvicorn.error``."""
MAX_LOGGER_LEVELS = 100


class LoggingSettings(_Section):
    RELOADABLE = frozenset({"level", "levels"})

    level: LogLevel = Field("info", description="Lowest level written.")
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="json lines, console, or auto (console on a TTY)."
    )
    levels: dict[LoggerName, LogLevel] = Field(
        {},
        max_length=MAX_LOGGER_LEVELS,
        description="Loggers written from another level than logging.level, each with "
        'the loggers below it: `{"wess.storage" = "debug", "wess.http" = "warning"}`. In '
        "the environment: `wess.storage=debug,wess.http=warning`.",
    )

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("levels", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        if value is None:  # an empty environment variable
            return {}
        if isinstance(value, str):
            pairs = (item.partition("=") for item in value.split(",") if item.strip())
            return {name.strip(): level.strip().lower() for name, _, level in pairs}
        if isinstance(value, dict):
            return {k: v.lower() if isinstance(v, str) else v for k, v in value.items()}
        return value
