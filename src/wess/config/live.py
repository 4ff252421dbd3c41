"""The settings in force in a running server, and where to read them again.

``LiveSettings`` holds the one current ``Settings`` (a frozen value, replaced whole by a
reload) and tells its subscribers when it changes: each part of the server that uses a
reloadable key follows the holder instead of keeping the value it started with.
``SettingsSource`` is how the settings were loaded (the file, the flags), so that a
reload reads them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wess.config.loading import LoadedSettings, config_file_of, load_settings
from wess.config.sections import Settings

Listener = Callable[[Settings], None]


@dataclass(frozen=True, slots=True)
class SettingsSource:
    """Where the settings come from: ``config_file`` (None: ``$WESS_CONFIG``, else
    ``./wess.toml`` if present), the environment (``env``; None: the process's, read at
    each load) and ``flags`` (dotted keys and values, as ``load_settings`` takes them).
    Picklable: a worker process of ``wess serve --workers`` gets its own."""

    config_file: Path | None = None
    flags: tuple[tuple[str, Any], ...] = ()
    env: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def of(
        cls,
        config_file: Path | None,
        flags: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
    ) -> SettingsSource:
        return cls(config_file, tuple(flags.items()), None if env is None else tuple(env.items()))

    def load(self) -> LoadedSettings:
        """The settings as the file and environment give them now; ConfigError if invalid."""
        return load_settings(config_file=self.config_file, env=self._env, flags=dict(self.flags))

    def with_flags(self, flags: Mapping[str, Any]) -> SettingsSource:
        """This source with more flags (``{"server.port": 8081}`` ...) over the others."""
        return SettingsSource.of(self.config_file, {**dict(self.flags), **flags}, env=self._env)

    @property
    def path(self) -> Path | None:
        """The file a load reads now (None: none)."""
        return config_file_of(self.config_file, self._env)

    @property
    def _env(self) -> dict[str, str] | None:
        return None if self.env is None else dict(self.env)


class LiveSettings:
    """The settings a running server uses now. ``current`` is read where a value is
    needed; ``subscribe`` registers what must adjust when a reload replaces them."""

    def __init__(self, settings: Settings) -> None:
        self._current = settings
        self._listeners: list[Listener] = []

    @property
    def current(self) -> Settings:
        return self._current

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(settings)`` after each replacement."""
        self._listeners.append(listener)

    def replace(self, settings: Settings) -> None:
        """Put ``settings`` in force and tell every subscriber, in subscription order."""
        self._current = settings
        for listener in self._listeners:
            listener(settings)
