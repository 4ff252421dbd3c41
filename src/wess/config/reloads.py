"""Which keys a running server applies on reload, and what a reload changes.

Every section names the keys it reloads (``Section.RELOADABLE``); any other key is read
once, at start-up, and a change to it waits for a restart. Pure: comparing two
``Settings`` and merging the reloadable part of one into the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wess.config.sections import SECTIONS, Settings


def reloads(dotted: str) -> bool:
    """Whether ``section.key`` is applied by a running server when reloaded."""
    section, _, key = dotted.partition(".")
    model = SECTIONS.get(section)
    if model is None or key not in model.model_fields:
        raise KeyError(f"{dotted} is not a configuration key")
    return key in model.RELOADABLE


@dataclass(frozen=True, slots=True)
class Changes:
    """What differs between the running settings and the file read again."""

    applied: tuple[str, ...]
    """Changed keys that reload: applied now."""
    needs_restart: tuple[str, ...]
    """Changed keys that do not: logged, and left as they are until a restart."""

    @property
    def empty(self) -> bool:
        return not self.applied and not self.needs_restart


def changes(running: Settings, loaded: Settings) -> Changes:
    """The keys whose values differ, split by whether they reload."""
    applied: list[str] = []
    restart: list[str] = []
    for section in SECTIONS:
        before, after = getattr(running, section), getattr(loaded, section)
        for key in type(before).model_fields:
            if getattr(before, key) != getattr(after, key):
                (applied if key in type(before).RELOADABLE else restart).append(f"{section}.{key}")
    return Changes(applied=tuple(applied), needs_restart=tuple(restart))


def reloaded(running: Settings, loaded: Settings) -> Settings:
    """``running`` with the reloadable keys of ``loaded``: what the server runs with after
    a reload (keys that need a restart keep their running values)."""
    sections: dict[str, Any] = {}
    for section in SECTIONS:
        before, after = getattr(running, section), getattr(loaded, section)
        update = {
            key: getattr(after, key)
            for key in type(before).RELOADABLE
            if getattr(before, key) != getattr(after, key)
        }
        if update:
            sections[section] = before.model_copy(update=update)
    return running.model_copy(update=sections) if sections else running
