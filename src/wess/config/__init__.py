"""Settings: defaults < ``wess.toml`` < environment < flags; validated at start-up.

Settings are values, not resources: ``load_settings`` turns a file, an environment
mapping and the command-line flags into one frozen ``Settings`` plus a record of where
each value came from (``wess config show``).
"""

from __future__ import annotations

from wess.config.loading import LoadedSettings, effective_items, load_settings
from wess.config.reference import reference_markdown
from wess.config.sections import SECTIONS, Settings

__all__ = [
    "SECTIONS",
    "LoadedSettings",
    "Settings",
    "effective_items",
    "load_settings",
    "reference_markdown",
]
