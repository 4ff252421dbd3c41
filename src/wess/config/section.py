"""The base of every configuration section, and the field of a sandbox limit."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from wess.runtime.limits import BY_NAME

LIMIT = "limit"
"""The key of a field's ``json_schema_extra`` naming the sandbox limit it configures."""


class Section(BaseModel):
    """A section of the configuration: frozen, and refusing keys it does not know."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    RELOADABLE: ClassVar[frozenset[str]] = frozenset()
    """The keys of this section a running server applies on reload (SIGHUP, or the file
    watch); a change to any other key waits for a restart. Every section names its own
    (``wess.config.reloads``)."""


def limit_field(name: str) -> Any:
    """The field configuring the sandbox limit ``name``: its default, bounds and meaning
    come from ``wess.runtime.limits``, never spelt out here."""
    spec = BY_NAME[name]
    unset = "; unset: no limit" if spec.default is None else ""
    lowered = f"; a run request may lower it (`limits.{name}`)" if spec.per_call else ""
    return Field(
        spec.default,
        ge=spec.minimum,
        le=spec.maximum,
        description=f"{spec.description} ({spec.unit}){unset}{lowered}.",
        json_schema_extra={LIMIT: name},
    )
