"""The configuration's section about modules as resources: revisions and aliases."""

from __future__ import annotations

from pydantic import Field

from wess.config.section import Section as _Section


class ModulesSettings(_Section):
    RELOADABLE = frozenset()  # read when the Writer and the API are built
    revisions_kept: int = Field(
        10,
        ge=1,
        le=1000,
        description="Revisions of a module kept runnable, the current one included; an "
        "update prunes older ones, except those an alias points at.",
    )
    aliases_max: int = Field(32, ge=1, le=1024, description="Aliases one module may have.")
    alias_seed: int | None = Field(
        None,
        description="Seed of the random source weighted aliases choose a revision with "
        "(tests); unset: seeded by the operating system.",
    )
