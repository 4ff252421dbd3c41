"""Reloading the configuration in process: every reloadable key reaches the part that
uses it (none keeps the value it started with), an invalid file is refused whole, a
key that needs a restart is logged and left alone, and each reload is counted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import structlog

from wess.config import SECTIONS, Settings
from wess.config.live import LiveSettings, SettingsSource
from wess.server import state as state_module
from wess.server.connections import guarded_protocol
from wess.server.reloading import Reloader
from wess.server.serving import _follow, connection_rules
from wess.testing import open_client
from wess.testing.app import TestClient, test_settings
from wess.testing.scrape import Scrape
from wess.workers.anchoring import AnchorKeeper
from wess.workers.quotas import Quota

START = {
    "WESS_DATABASE_URL": "",  # RocksDB in the data directory: an audit anchor is kept
    "WESS_RATELIMIT_STORAGE": "redis://127.0.0.1:6379",  # never reached: no request is made
    "WESS_RUNNER_BREAKER_FAILURES": "3",
}
"""Settings whose every reloadable key has a part that uses it (the anchor keeper, a
Redis breaker, the modules' breakers)."""

NEW: dict[str, tuple[str, object]] = {
    # key: (TOML value, what the part that uses it says after the reload)
    "server.header_timeout": ("7.5", 7.5),
    "server.body_timeout": ("8.5", 8.5),
    "server.max_connections_per_client": ("9", 9),
    "server.request_timeout_ms": ("1234", 1234),
    "database.retry_attempts": ("5", 5),
    "database.retry_initial_ms": ("20", 0.02),
    "database.retry_max_ms": ("300", 0.3),
    "database.retry_budget_ms": ("1500", 1.5),
    "database.breaker_failures": ("11", 11),
    "database.breaker_cooldown": ("12.5", 12.5),
    "reader.cache_size": ('"2MiB"', 2 << 20),
    "reader.ttl": ("42", 42.0),
    "runner.timeout": ("1500", 1500),
    "runner.max_memory": ("33554432", 33554432),
    "runner.fuel": ("1000000", 1000000),
    "runner.cache_size": ('"3MiB"', 3 << 20),
    "runner.breaker_cooldown": ("77", 77.0),
    "limits.max_table_elements": ("5000", 5000),
    "limits.max_instances": ("3", 3),
    "limits.max_output": ("4096", 4096),
    "limits.max_args": ("4", 4),
    "logging.level": ('"error"', logging.ERROR),
    "logging.levels": ('{"wess.storage" = "debug"}', logging.DEBUG),
    "ratelimit.per_ip": ('"3/minute"', 3),
    "ratelimit.per_key": ('"4/minute"', 4),
    "ratelimit.on_redis_failure": ('"closed"', "closed"),
    "ratelimit.breaker_failures": ("13", 13),
    "ratelimit.breaker_cooldown": ("14.5", 14.5),
    "quotas.max_modules": ("15", 15),
    "quotas.max_bytes": ("16000", 16000),
    "audit.anchor_interval": ("17.5", 17.5),
    "audit.refusal_window": ("18.5", 18.5),
}


def in_use(
    client: TestClient, protocol: Any, anchor: AnchorKeeper
) -> dict[str, Callable[[], object]]:
    """For each reloadable key, the value the part using it holds now, read from the
    part itself (private attributes: this test looks inside on purpose)."""
    state = client.state
    service: Any = state.service
    runtime = service.runner._runtime
    reader_cache = service._reader._cache
    circuits: Any = state.breakers.__self__  # type: ignore[union-attr]
    storage = circuits._storage
    retrying = storage._inner._inner
    limiter = state.guard._limiter  # type: ignore[attr-defined]

    def quotas() -> Any:
        held = service._writer._quotas
        return held.default if held is not None else Quota()

    return {
        "server.header_timeout": lambda: protocol.rules.header_timeout,
        "server.body_timeout": lambda: protocol.rules.body_timeout,
        "server.max_connections_per_client": lambda: protocol.clients.limit,
        "server.request_timeout_ms": lambda: service._deadlines.default_ms,
        "database.retry_attempts": lambda: retrying.policy.attempts,
        "database.retry_initial_ms": lambda: retrying.policy.initial,
        "database.retry_max_ms": lambda: retrying.policy.maximum,
        "database.retry_budget_ms": lambda: retrying.policy.budget,
        "database.breaker_failures": lambda: (storage.reads.threshold, storage.writes.threshold)[1],
        "database.breaker_cooldown": lambda: (storage.reads.cooldown, storage.writes.cooldown)[0],
        "reader.cache_size": lambda: reader_cache.max_bytes,
        "reader.ttl": lambda: reader_cache._ttl,
        "runner.timeout": lambda: runtime.limits.timeout_ms,
        "runner.max_memory": lambda: runtime.limits.max_memory,
        "runner.fuel": lambda: runtime.limits.fuel,
        "runner.cache_size": lambda: runtime._cache._budget,
        "runner.breaker_cooldown": lambda: service.runner.breakers.cooldown,
        "limits.max_table_elements": lambda: runtime.limits.max_table_elements,
        "limits.max_instances": lambda: runtime.limits.max_instances,
        "limits.max_output": lambda: runtime.limits.max_output,
        "limits.max_args": lambda: service.max_args,
        "logging.level": lambda: logging.getLogger().level,
        "logging.levels": lambda: logging.getLogger("wess.storage").level,
        "ratelimit.per_ip": lambda: limiter._per_ip.amount,
        "ratelimit.per_key": lambda: {i.amount for i in limiter._per_role.values()}.pop(),
        "ratelimit.on_redis_failure": lambda: (
            limiter._counter.policy.value,
            circuits.redis_policy.value,
        )[int(limiter._counter.policy != circuits.redis_policy)],
        "ratelimit.breaker_failures": lambda: limiter._counter.breaker.threshold,
        "ratelimit.breaker_cooldown": lambda: limiter._counter.breaker.cooldown,
        "quotas.max_modules": lambda: quotas().max_modules,
        "quotas.max_bytes": lambda: quotas().max_bytes,
        "audit.anchor_interval": lambda: anchor.interval,
        "audit.refusal_window": lambda: state.auditor._windows.window,  # type: ignore[attr-defined]
    }


def source_of(path: Path, settings: Settings, **env: str) -> SettingsSource:
    """``path`` read with the environment ``test_settings`` gave ``settings``."""
    base = {
        "WESS_DATABASE_URL": "memory://",
        "WESS_DB_PATH": str(settings.database.path),
    }
    return SettingsSource.of(path, {}, env={**base, **env})


def toml(values: dict[str, str]) -> str:
    sections: dict[str, list[str]] = {}
    for dotted, value in values.items():
        section, _, key = dotted.partition(".")
        sections.setdefault(section, []).append(f"{key} = {value}")
    return "".join(f"[{s}]\n" + "\n".join(lines) + "\n" for s, lines in sections.items())


def reloadable_keys() -> set[str]:
    return {f"{s}.{k}" for s, model in SECTIONS.items() for k in model.RELOADABLE}


async def test_every_reloadable_key_reaches_the_part_that_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reload of a file changing every reloadable key: each part holds the new value
    (the table covers exactly the reloadable keys, so a key made reloadable without a
    part following it fails here)."""
    assert set(NEW) == reloadable_keys()
    anchors: list[AnchorKeeper] = []

    class Recorded(AnchorKeeper):  # the one the server makes, kept for the test to read
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            anchors.append(self)

    monkeypatch.setattr(state_module, "AnchorKeeper", Recorded)
    settings = test_settings(**START)
    live = LiveSettings(settings)
    path = tmp_path / "wess.toml"
    source = source_of(path, settings, **START)
    root_level = logging.getLogger().level
    async with open_client(settings, live=live) as client:
        protocol = guarded_protocol(connection_rules(settings))
        live.subscribe(partial(_follow, protocol))  # what serve() subscribes
        (anchor,) = anchors
        now = in_use(client, protocol, anchor)
        assert set(now) == reloadable_keys()
        before = {key: read() for key, read in now.items()}
        assert all(before[key] != new for key, (_, new) in NEW.items()), before
        path.write_text(toml({key: value for key, (value, _) in NEW.items()}))
        assert Reloader(live, source, metrics=client.state.metrics).reload()
        after = {key: read() for key, read in now.items()}
        assert after == {key: new for key, (_, new) in NEW.items()}
        assert live.current.ratelimit.per_ip == "3/minute"
    logging.getLogger().setLevel(root_level)


async def test_an_invalid_file_is_refused_whole(tmp_path: Path) -> None:
    """One bad value among good ones: nothing applies, the error is logged, the failure
    counted; the next good file applies and counts as a success."""
    settings = test_settings()
    live = LiveSettings(settings)
    path = tmp_path / "wess.toml"
    source = source_of(path, settings, WESS_RUNNER_TIMEOUT="2000")
    async with open_client(settings, live=live) as client:
        metrics = client.state.metrics
        reloader = Reloader(live, source, metrics=metrics)
        path.write_text('[ratelimit]\nper_ip = "3/minute"\n[limits]\nmax_args = "many"\n')
        with structlog.testing.capture_logs() as logs:
            assert not reloader.reload()
        assert live.current is settings
        (refused,) = [e for e in logs if e["event"].startswith("configuration reload refused")]
        assert "limits.max_args" in refused["error"]
        path.write_text('[ratelimit]\nper_ip = "oops"\n')
        assert not reloader.reload()
        assert live.current is settings
        path.write_text('[ratelimit]\nper_ip = "3/minute"\n')
        assert reloader.reload()
        assert live.current.ratelimit.per_ip == "3/minute"
        scrape = Scrape(metrics.render().decode())
        assert scrape.value("wess_config_reloads_total", result="failure") == 2
        assert scrape.value("wess_config_reloads_total", result="success") == 1
        assert (scrape.value("wess_config_last_reload_success_timestamp_seconds") or 0) > 0


async def test_a_key_that_needs_a_restart_is_logged_and_left_alone(tmp_path: Path) -> None:
    """A changed port and writer batch are named in a warning and keep their running
    values; the reloadable change beside them applies."""
    settings = test_settings()
    live = LiveSettings(settings)
    path = tmp_path / "wess.toml"
    path.write_text("[server]\nport = 9\n[writer]\nmax_batch = 7\n[limits]\nmax_args = 3\n")
    source = source_of(path, settings, WESS_RUNNER_TIMEOUT="2000")
    async with open_client(settings, live=live) as client:
        with structlog.testing.capture_logs() as logs:
            assert Reloader(live, source, metrics=client.state.metrics).reload()
        (restart,) = [e for e in logs if e["event"].endswith("need a restart: not applied")]
        assert restart["keys"] == ["server.port", "writer.max_batch"]
        (done,) = [e for e in logs if e["event"] == "configuration reloaded"]
        assert done["applied"] == ["limits.max_args"]
        assert live.current.server.port == settings.server.port
        assert live.current.writer.max_batch == settings.writer.max_batch
        response = await client.post(
            "/v1/modules/00000000-0000-0000-0000-000000000000/run", json={"args": [1, 2, 3, 4]}
        )
        assert response.json()["code"] == "invalid_arguments"


@pytest.mark.parametrize("value", ['"1/minute"', '"2 per second"'])
def test_rate_limits_are_checked_when_the_file_is_read(tmp_path: Path, value: str) -> None:
    """Limits in ``limits`` notation are accepted as written (no surprise at reload)."""
    path = tmp_path / "wess.toml"
    path.write_text(f"[ratelimit]\nper_ip = {value}\n")
    assert SettingsSource.of(path, {}, env={}).load().settings.ratelimit.per_ip
