"""The configuration's sections about running Wess: metrics and backups."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from wess.config.section import Section as _Section

MAX_PER_MODULE = 100
"""The most modules ``metrics.per_module`` may list: each adds series of its own."""


class MetricsSettings(_Section):
    RELOADABLE = frozenset()

    per_module: tuple[str, ...] = Field(
        (),
        max_length=MAX_PER_MODULE,
        description="Module ids or names whose calls get metric series of their own "
        "(by module and function); every other module is counted in aggregate, so a "
        "thousand modules make no more series than one. At most 100. In the environment: "
        "comma-separated.",
    )

    @field_validator("per_module", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if value is None:  # an empty environment variable
            return ()
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value


class BackupSettings(_Section):
    RELOADABLE = frozenset()

    dir: Path | None = Field(
        None,
        description="Where backups are kept; unset: `<database.path>-backups`, beside the "
        "data directory. On the store's file system, table files are hard-linked (cheap, "
        "but no help when that disk fails: copy backups elsewhere); on another, copied.",
    )
    interval: float = Field(
        0.0,
        ge=0,
        le=31 * 86_400,
        description="Seconds between backups the server takes itself; 0: none (take them "
        "with `wess backup create`).",
    )
    retention: int = Field(
        7,
        ge=1,
        le=100_000,
        description="Backups kept: after each scheduled backup, older ones beyond this "
        "many are removed (`wess backup prune` does the same on demand).",
    )
