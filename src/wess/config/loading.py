"""Loading settings: defaults < ``wess.toml`` < environment < flags, validated once.

This is the only module that reads ``os.environ``; everything else receives values.
Environment names are ``WESS_<SECTION>_<KEY>`` (``WESS_RUNNER_TIMEOUT=30000``), plus the
short names of the original Wess docs (``WESS_DB_PATH``, ``WESS_LOG_LEVEL``) and of the
security docs (``WESS_RATELIMIT_PER_IP`` ...), which already follow the pattern.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from wess.config.sections import SECTIONS, Settings
from wess.errors import ConfigError

ENV_PREFIX = "WESS_"
ENV_ALIASES = {"WESS_DB_PATH": ("database", "path"), "WESS_LOG_LEVEL": ("logging", "level")}
CONFIG_FILE_ENV = "WESS_CONFIG"
DEFAULT_CONFIG_FILE = Path("wess.toml")


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
