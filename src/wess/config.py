"""Settings: defaults < ``wess.toml`` < environment < flags, validated once at start-up.

Settings are values, not resources: ``load_settings`` turns a file, an environment
mapping and the command-line flags into one frozen ``Settings`` plus a record of where
each value came from (``wess config show``). This is the only module that reads
``os.environ``; everything else receives values.

Environment names are ``WESS_<SECTION>_<KEY>`` (``WESS_RUNNER_TIMEOUT=30000``), plus the
short names of the original Wess docs: ``WESS_DB_PATH`` and ``WESS_LOG_LEVEL``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wess.errors import ConfigError

ENV_PREFIX = "WESS_"
ENV_ALIASES = {"WESS_DB_PATH": ("database", "path"), "WESS_LOG_LEVEL": ("logging", "level")}
CONFIG_FILE_ENV = "WESS_CONFIG"
DEFAULT_CONFIG_FILE = Path("wess.toml")
JSON_BYTES_PER_WASM_BYTE = 4
"""Worst case of the legacy form: ``255,`` is four bytes of JSON for one byte of wasm."""
JSON_BODY_SLACK = 64 * 1024


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerSettings(_Section):
    host: str = Field("127.0.0.1", min_length=1, description="Address to bind.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port to bind.")
    shutdown_timeout: float = Field(
        10.0, gt=0, le=600, description="Seconds to drain requests and queued writes on stop."
    )


class DatabaseSettings(_Section):
    path: Path = Field(Path("./data"), description="Directory of the embedded RocksDB store.")
    url: str | None = Field(
        None, description="Storage URL (memory://, rocksdb:///path); unset: RocksDB at path."
    )

    @property
    def effective_url(self) -> str:
        return self.url or f"rocksdb:{quote(str(self.path))}"


class ReaderSettings(_Section):
    cache_size: int = Field(
        64 << 20, ge=0, description="Byte budget of the Reader's module cache (0 disables it)."
    )
    ttl: float = Field(300.0, gt=0, description="Seconds a cached module stays valid.")


class WriterSettings(_Section):
    channel_size: int = Field(1024, ge=1, le=1_000_000, description="Bound of the write queue.")
    max_batch: int = Field(256, ge=1, le=10_000, description="Most jobs per group commit.")


class RunnerSettings(_Section):
    timeout: int = Field(5000, ge=1, le=3_600_000, description="Wall-clock limit per call, ms.")
    max_memory: int = Field(
        256 << 20, ge=64 << 10, le=4 << 30, description="Linear memory per instance, bytes."
    )
    fuel: int | None = Field(
        None, ge=1, description="Fuel per call (instruction budget); unset means unmetered."
    )
    workers: int = Field(
        0,
        ge=0,
        le=256,
        description="Invocation threads (0: two per core, so one module "
        "using every core still leaves threads for others).",
    )
    module_concurrency: int = Field(
        0, ge=0, le=256, description="Calls of one module running at once (0: one per core)."
    )
    module_queue: int = Field(
        64, ge=0, le=100_000, description="Calls of one module waiting for a slot before 503."
    )
    inline_fuel: int = Field(
        100_000,
        ge=0,
        description="Fuel budget of the inline lane: calls that finish "
        "within it run on the event loop, others move to the pool (0: always the pool).",
    )
    channel_size: int = Field(
        256, ge=1, le=100_000, description="Invocations waiting or running before 503."
    )
    cache_size: int = Field(
        256 << 20, ge=0, description="Byte budget of the compiled-module cache."
    )
    prewarm: int = Field(
        32,
        ge=0,
        le=10_000,
        description="Most-invoked modules whose AOT artifacts load at start-up, "
        "in the background (0: none).",
    )


class LimitsSettings(_Section):
    max_module_size: int = Field(
        2 << 20, ge=1024, le=64 << 20, description="Largest accepted module, bytes (413 past it)."
    )
    max_args: int = Field(10, ge=0, le=1000, description="Most arguments per call.")
    max_stack: int = Field(
        512 << 10, ge=64 << 10, le=64 << 20, description="Wasm stack per call, bytes."
    )
    max_table_elements: int = Field(100_000, ge=0, description="Table elements per instance.")
    max_instances: int = Field(10, ge=1, le=10_000, description="Instances per invocation.")
    max_output: int = Field(
        64 << 10, ge=0, le=16 << 20, description="Captured stdout/stderr per call, bytes."
    )
    max_page_size: int = Field(1000, ge=1, le=100_000, description="Largest listing page.")
    compile_cpu_seconds: int = Field(
        5, ge=1, le=3600, description="CPU time one compile of a module may use, s (422 past it)."
    )
    compile_memory: int = Field(
        1 << 30,
        ge=16 << 20,
        le=64 << 30,
        description="Memory one compile may add to its worker process, bytes (422 past it).",
    )

    @property
    def max_json_body(self) -> int:
        """The JSON upload forms must fit a full-size module in their encoding."""
        return self.max_module_size * JSON_BYTES_PER_WASM_BYTE + JSON_BODY_SLACK


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level written."
    )
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="json lines, console, or auto (console on a TTY)."
    )

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class Settings(_Section):
    """The whole validated configuration."""

    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    reader: ReaderSettings = ReaderSettings()
    writer: WriterSettings = WriterSettings()
    runner: RunnerSettings = RunnerSettings()
    limits: LimitsSettings = LimitsSettings()
    logging: LoggingSettings = LoggingSettings()


SECTIONS: dict[str, type[_Section]] = {
    name: info.annotation  # type: ignore[misc]
    for name, info in Settings.model_fields.items()
}


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    """The settings and, for every ``section.key``, where its value came from."""

    settings: Settings
    sources: Mapping[str, str]


def load_settings(
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> LoadedSettings:
    """Layer defaults < file < environment < flags; raise ConfigError naming the bad key.

    ``env`` defaults to the process environment. ``config_file`` defaults to
    ``$WESS_CONFIG``, else ``./wess.toml`` when it exists. ``flags`` maps dotted keys
    (``"server.port"``) to values; None values are ignored.
    """
    environ = dict(os.environ) if env is None else dict(env)
    layers: list[tuple[str, dict[str, dict[str, Any]]]] = []

    path = config_file or _config_file_from(environ)
    if path is not None:
        layers.append((f"file {path}", _read_toml(path)))
    layers.append(("environment", _from_env(environ)))
    layers.append(("flag", _from_flags(flags or {})))

    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    for label, layer in layers:
        for section, values in layer.items():
            for key, value in values.items():
                merged.setdefault(section, {})[key] = value
                origin[f"{section}.{key}"] = _label(label, section, key, environ)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, merged, origin)) from None

    sources = {key: origin.get(key, "default") for key in _dotted_keys(settings)}
    return LoadedSettings(settings=settings, sources=sources)


def effective_items(settings: Settings) -> list[tuple[str, Any]]:
    """Every ``section.key`` with its effective value, in declaration order."""
    dumped = settings.model_dump(mode="json")
    return [(f"{s}.{k}", v) for s, values in dumped.items() for k, v in values.items()]


def _dotted_keys(settings: Settings) -> list[str]:
    return [key for key, _ in effective_items(settings)]


def _config_file_from(environ: Mapping[str, str]) -> Path | None:
    named = environ.get(CONFIG_FILE_ENV)
    if named:
        return Path(named)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for section, values in document.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"config file {path}: unknown section [{section}]; allowed: {', '.join(SECTIONS)}"
            )
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path}: {section} must be a [section] table")
    return document


def _from_env(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    layer: dict[str, dict[str, Any]] = {}
    for name, raw in environ.items():
        upper = name.upper()
        if upper in ENV_ALIASES:
            section, key = ENV_ALIASES[upper]
        elif upper.startswith(ENV_PREFIX):
            section, _, key = upper[len(ENV_PREFIX) :].lower().partition("_")
            if section not in SECTIONS or not key:
                continue  # WESS_URL, WESS_CONFIG ... belong to the CLI, not the server
        else:
            continue
        layer.setdefault(section, {})[key] = _env_value(raw)
    return layer


def _env_value(raw: str) -> Any:
    """Environment values are strings; an empty string or ``none`` unsets an optional key."""
    return None if raw.strip().lower() in {"", "none", "null"} else raw


def _from_flags(flags: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    layer: dict[str, dict[str, Any]] = {}
    for dotted, value in flags.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        layer.setdefault(section, {})[key] = value
    return layer


def _label(label: str, section: str, key: str, environ: Mapping[str, str]) -> str:
    if label != "environment":
        return label
    for alias, target in ENV_ALIASES.items():
        if target == (section, key) and alias in environ:
            return f"environment {alias}"
    return f"environment {ENV_PREFIX}{section.upper()}_{key.upper()}"


def _explain(
    exc: ValidationError, merged: Mapping[str, Mapping[str, Any]], origin: Mapping[str, str]
) -> str:
    lines = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        dotted = ".".join(location[:2])
        section_values = merged.get(location[0], {}) if location else {}
        value = section_values.get(location[1]) if len(location) > 1 else None
        source = origin.get(dotted, "default")
        allowed = _allowed(error)
        lines.append(
            f"{dotted} = {value!r} (from {source}) is invalid: {error['msg']}"
            + (f"; allowed: {allowed}" if allowed else "")
        )
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _allowed(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if error["type"] == "extra_forbidden":
        section = error["loc"][0] if error["loc"] else ""
        model = SECTIONS.get(str(section))
        return ", ".join(model.model_fields) if model else ", ".join(SECTIONS)
    bounds = [
        f"{label} {ctx[name]}"
        for name, label in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        if name in ctx
    ]
    if bounds:
        return " and ".join(bounds)
    if error["type"].startswith("int_"):
        return "a whole number"
    if error["type"].startswith(("float_", "bool_")):
        return "a number" if error["type"].startswith("float_") else "true or false"
    return ""


def reference_markdown() -> str:
    """Every key as Markdown tables (docs/configuration.md embeds this verbatim)."""
    lines: list[str] = []
    for section, model in SECTIONS.items():
        lines += [
            f"### [{section}]",
            "",
            "| key | environment | default | allowed | meaning |",
            "|---|---|---|---|---|",
        ]
        for name, field in model.model_fields.items():
            env = f"{ENV_PREFIX}{section.upper()}_{name.upper()}"
            aliases = [alias for alias, target in ENV_ALIASES.items() if target == (section, name)]
            names = ", ".join(f"`{n}`" for n in [env, *aliases])
            lines.append(
                f"| `{section}.{name}` | {names} | `{_shown(field.default)}` | "
                f"{_rule(field)} | {field.description} |"
            )
        lines.append("")
    return "\n".join(lines)


def _shown(default: Any) -> str:
    if default is None:
        return "unset"
    if isinstance(default, Path) and not default.is_absolute():
        return f"./{default}"
    if isinstance(default, float):
        return f"{default:g}"
    return '""' if default == "" else str(default)


def _rule(field: Any) -> str:
    literal = getattr(field.annotation, "__args__", None)
    if literal and all(isinstance(item, str) for item in literal):
        return " / ".join(literal)
    rules = []
    for meta in field.metadata:
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                rules.append(f"{symbol} {value}")
        if getattr(meta, "min_length", None):
            rules.append(f"length >= {meta.min_length}")
    return ", ".join(rules)
