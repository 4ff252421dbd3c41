"""The ``commands`` section: what a request may hand a command (stdin, argv, env)."""

from __future__ import annotations

from pydantic import Field

from wess.config.section import Section

DEFAULT_ENV_ALLOWED = ("LANG", "LC_*", "TZ", "LOG_LEVEL", "DEBUG", "APP_*")


class CommandsSettings(Section):
    RELOADABLE = frozenset()  # read once by the run route when the app is built
    max_stdin: int = Field(
        1 << 20,
        ge=0,
        le=64 << 20,
        description="Largest stdin a run request may give a command, bytes (413 past it).",
    )
    max_argv: int = Field(
        64, ge=0, le=4096, description="Most arguments (argv entries) a run request may pass."
    )
    max_env: int = Field(
        64, ge=0, le=4096, description="Most environment variables a run request may set."
    )
    max_arg_bytes: int = Field(
        64 << 10,
        ge=64,
        le=16 << 20,
        description="Most bytes of argv and env together (names, values) a request may pass.",
    )
    env_allowed: tuple[str, ...] = Field(
        DEFAULT_ENV_ALLOWED,
        description="Environment variable names a run request may set: exact names or "
        "shell patterns (`APP_*`); any other name is refused (400). Empty: none.",
    )
