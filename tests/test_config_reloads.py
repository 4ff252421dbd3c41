"""Which keys reload: every section says, the reference shows it for every key, and a
reload's changes are split and merged by that classification."""

from __future__ import annotations

import pytest

from wess.config import SECTIONS, Settings
from wess.config.reference import reference_markdown
from wess.config.reloads import changes, reloaded, reloads
from wess.config.section import Section


def test_every_section_classifies_its_keys() -> None:
    """Each section declares its own RELOADABLE set (an empty one included), naming
    only keys it has: a new section cannot leave the question open, and a renamed key
    cannot linger in the set."""
    for name, model in SECTIONS.items():
        assert "RELOADABLE" in vars(model), f"[{name}] declares no RELOADABLE set"
        assert set(model.model_fields) >= model.RELOADABLE, (name, model.RELOADABLE)
    assert frozenset() == Section.RELOADABLE


def test_the_reference_says_for_every_key_whether_it_reloads() -> None:
    """docs/configuration.md's tables have a reloads column, filled for every key: yes
    for a reloadable one, restart for the others."""
    rows = {}
    for line in reference_markdown().splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[5]
    for section, model in SECTIONS.items():
        for key in model.model_fields:
            expected = "yes" if reloads(f"{section}.{key}") else "restart"
            assert rows[f"{section}.{key}"] == expected
    assert rows["ratelimit.per_ip"] == "yes"
    assert rows["server.port"] == rows["database.path"] == rows["database.url"] == "restart"


def test_a_reload_applies_reloadable_keys_and_keeps_the_others() -> None:
    """The changes are split in two; the merged settings take the reloadable values and
    keep the running values of the others."""
    running = Settings()
    loaded = Settings.model_validate(
        {
            "ratelimit": {"per_ip": "3/minute"},
            "logging": {"level": "debug"},
            "server": {"port": 9999},
            "database": {"path": "elsewhere"},
        }
    )
    found = changes(running, loaded)
    assert found.applied == ("logging.level", "ratelimit.per_ip")  # in declaration order
    assert found.needs_restart == ("server.port", "database.path")
    merged = reloaded(running, loaded)
    assert merged.ratelimit.per_ip == "3/minute"
    assert merged.logging.level == "debug"
    assert merged.server.port == running.server.port
    assert merged.database.path == running.database.path
    assert changes(running, running).empty
    assert reloaded(running, running) is running


def test_an_unknown_key_is_not_classified() -> None:
    with pytest.raises(KeyError):
        reloads("server.nonsense")
