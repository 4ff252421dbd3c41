"""Loading settings: defaults < ``wess.toml`` < environment < flags, validated once.

This is the only module that reads ``os.environ``; everything else receives values.
Environment names are ``WESS_<SECTION>_<KEY>`` (``WESS_RUNNER_TIMEOUT=30000``), plus the
short names of the original Wess docs (``WESS_DB_PATH``, ``WESS_LOG_LEVEL``), the
scaling docs' ``WESS_DB_URL``, and the security docs' (``WESS_RATELIMIT_PER_IP`` ...),
which already follow the pattern.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from wess.config.rules import allowed
from wess.config.sections import SECTIONS, Settings
from wess.errors import ConfigError

ENV_PREFIX = "WESS_"
ENV_ALIASES = {
    "WESS_DB_PATH": ("database", "path"),
    "WESS_DB_URL": ("database", "url"),
    "WESS_LOG_LEVEL": ("logging", "level"),
}
KEY_ALIASES = {("server", "address"): ("server", "host")}
"""Keys of the original Wess that are another name for one of ours, in any layer."""
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
    path = config_file or _config_file_from(environ)
    document = None if path is None else (f"file {path}", _read_toml(path))
    return _layered(document, environ, flags or {})


def settings_from_toml(
    text: str, *, name: str = "wess.toml", env: Mapping[str, str] | None = None
) -> LoadedSettings:
    """``load_settings`` for a file's content: ``name`` is what messages call the file,
    and ``env`` the environment (none by default). Raises ConfigError the same way."""
    return _layered((f"file {name}", _parse_toml(text, name)), dict(env or {}), {})


def _layered(
    document: tuple[str, dict[str, dict[str, Any]]] | None,
    environ: Mapping[str, str],
    flags: Mapping[str, Any],
) -> LoadedSettings:
    layers = [] if document is None else [document]
    layers.append(("environment", _from_env(environ)))
    layers.append(("flag", _from_flags(flags)))

    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    for label, layer in layers:
        _refuse_disagreeing_aliases(label, layer)
        for section, values in layer.items():
            for key, value in values.items():
                target, name = KEY_ALIASES.get((section, key), (section, key))
                merged.setdefault(target, {})[name] = value
                origin[f"{target}.{name}"] = _label(label, section, key, environ)
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


def config_file_of(config_file: Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The file ``load_settings`` reads for ``config_file`` (None: none)."""
    return config_file or _config_file_from(dict(os.environ) if env is None else env)


def _config_file_from(environ: Mapping[str, str]) -> Path | None:
    named = environ.get(CONFIG_FILE_ENV)
    if named:
        return Path(named)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    return _parse_toml(text, path)


def _parse_toml(text: str, path: Path | str) -> dict[str, dict[str, Any]]:
    try:
        document = tomllib.loads(text)
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


def _refuse_disagreeing_aliases(label: str, layer: Mapping[str, Mapping[str, Any]]) -> None:
    """One layer may give a key under both names only if it gives one value."""
    for (section, alias), (target, key) in KEY_ALIASES.items():
        given, aliased = layer.get(target, {}), layer.get(section, {})
        if key in given and alias in aliased and given[key] != aliased[alias]:
            raise ConfigError(
                f"invalid configuration ({label}): {target}.{key} = {given[key]!r} and "
                f"{section}.{alias} = {aliased[alias]!r} disagree; {alias} is the original "
                f"Wess's name for {key}: set one"
            )


def _label(label: str, section: str, key: str, environ: Mapping[str, str]) -> str:
    if (section, key) in KEY_ALIASES and label != "environment":
        return f"{label}, as {section}.{key}"
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
        message = _message(error)
        if len(location) < 2:
            lines.append(f"[{location[0] if location else ''}] is invalid: {message}")
            continue
        dotted = ".".join(location[:2])
        value = merged.get(location[0], {}).get(location[1])
        allowed = _allowed(location[0], location[1])
        lines.append(
            f"{dotted} = {value!r} (from {origin.get(dotted, 'default')}) is invalid: {message}"
            + (f"; allowed: {allowed}" if allowed else "")
        )
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _message(error: Mapping[str, Any]) -> str:
    """pydantic's message, without the "Value error, " it puts before our own sentences."""
    return str(error["msg"]).removeprefix("Value error, ")


def _allowed(section: str, key: str) -> str:
    model = SECTIONS.get(section)
    if model is None:
        return ", ".join(SECTIONS)
    field = model.model_fields.get(key)
    if field is None:
        aliases = [alias for (s, alias) in KEY_ALIASES if s == section]
        return ", ".join([*model.model_fields, *aliases])
    return allowed(field)
