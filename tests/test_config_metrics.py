"""The [metrics] section: the modules that get series of their own."""

from __future__ import annotations

import pytest

from wess.config import load_settings
from wess.config.operating import MAX_PER_MODULE
from wess.errors import ConfigError


def test_per_module_is_a_comma_separated_list_in_the_environment() -> None:
    """Ids and names, spaces trimmed, empty entries dropped; unset: none."""
    env = {"WESS_METRICS_PER_MODULE": " adder, 3f2a0000-0000-4000-8000-000000000000 ,,"}
    settings = load_settings(env=env).settings
    assert settings.metrics.per_module == ("adder", "3f2a0000-0000-4000-8000-000000000000")
    assert load_settings(env={}).settings.metrics.per_module == ()
    assert load_settings(env={"WESS_METRICS_PER_MODULE": ""}).settings.metrics.per_module == ()


def test_per_module_is_bounded() -> None:
    """More than MAX_PER_MODULE entries is refused: each adds series of its own."""
    many = ",".join(f"m{i}" for i in range(MAX_PER_MODULE + 1))
    with pytest.raises(ConfigError, match=r"metrics\.per_module"):
        load_settings(env={"WESS_METRICS_PER_MODULE": many})
