"""Reloading the configuration while serving: on SIGHUP, and when the file changes.

A reload reads the settings again the way start-up did (``SettingsSource``: the file,
the environment, the flags). A file that does not validate is refused whole: nothing of
it applies, the running settings stay, the error is logged. Otherwise the changed keys
that reload (``Section.RELOADABLE``) are put in force through ``LiveSettings``, whose
subscribers are the parts that use them, and every other changed key is logged as
waiting for a restart. Each reload is one log line and one count in
``wess_config_reloads_total{result}`` (``success`` or ``failure``).

The file watch (``server.watch_config``) watches the file's directory, not the file:
an editor that saves by renaming, or Kubernetes swapping a ConfigMap's ``..data`` link,
replaces the file, and a watch on the old file would see nothing more. Any event there
reads the file; it reloads only when its bytes changed since the last reload.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import structlog
import watchfiles
from prometheus_client import Counter, Gauge

from wess.config.live import LiveSettings, SettingsSource
from wess.config.reloads import changes, reloaded
from wess.errors import ConfigError
from wess.observability.metrics import Metrics

logger = structlog.get_logger(__name__)

RESULTS = ("success", "failure")
SIGNAL = "SIGHUP"
WATCH = "file changed"


class ReloadMetrics:
    """``wess_config_reloads_total{result}`` and the time of the last good reload."""

    def __init__(self, metrics: Metrics) -> None:
        self.reloads = Counter(
            "wess_config_reloads_total",
            "Configuration reloads (SIGHUP or the file watch), by result: success (the "
            "file was valid; its reloadable changes apply) or failure (refused whole).",
            ["result"],
            registry=metrics.registry,
        )
        for result in RESULTS:
            self.reloads.labels(result=result)
        self.last_success = Gauge(
            "wess_config_last_reload_success_timestamp_seconds",
            "When the configuration was last reloaded successfully (Unix time; 0: never).",
            registry=metrics.registry,
        )


class Reloader:
    """Reads ``source`` again and puts its reloadable changes in ``live``."""

    def __init__(
        self,
        live: LiveSettings,
        source: SettingsSource,
        *,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._live = live
        self._source = source
        self._metrics = ReloadMetrics(metrics)
        self._clock = clock

    @property
    def source(self) -> SettingsSource:
        return self._source

    def reload(self, *, trigger: str = SIGNAL) -> bool:
        """Reload now; whether the file was accepted (its restart-only changes aside)."""
        path = self._source.path
        try:
            loaded = self._source.load().settings
        except ConfigError as exc:
            logger.error(
                "configuration reload refused: the running configuration stays",
                trigger=trigger,
                file=str(path) if path else None,
                error=exc.detail,
            )
            self._metrics.reloads.labels(result="failure").inc()
            return False
        running = self._live.current
        found = changes(running, loaded)
        if found.needs_restart:
            logger.warning(
                "configuration changes need a restart: not applied",
                trigger=trigger,
                keys=list(found.needs_restart),
            )
        try:
            if found.applied:
                self._live.replace(reloaded(running, loaded))
        except Exception:  # a bug in a subscriber: said, counted, and the server goes on
            logger.exception("configuration reload failed while applying", trigger=trigger)
            self._metrics.reloads.labels(result="failure").inc()
            return False
        logger.info(
            "configuration reloaded",
            trigger=trigger,
            file=str(path) if path else None,
            applied=list(found.applied),
        )
        self._metrics.reloads.labels(result="success").inc()
        self._metrics.last_success.set(self._clock())
        return True


async def watch_config(reloader: Reloader, path: Path, *, stop: asyncio.Event) -> None:
    """Reload whenever ``path``'s bytes change, until ``stop`` is set (``module docstring``)."""
    seen = _digest(path)
    names = {path.name}

    def relevant(change: watchfiles.Change, changed: str) -> bool:
        name = Path(changed).name
        return name in names or name.startswith("..")  # a ConfigMap's ..data swap

    logger.info("watching the configuration file", file=str(path))
    async for _ in watchfiles.awatch(
        path.parent, watch_filter=relevant, recursive=False, stop_event=stop
    ):
        now = _digest(path)
        if now != seen:
            seen = now
            reloader.reload(trigger=WATCH)


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None  # missing for a moment (a rename in progress): the next event reads it
