"""The configuration as Markdown, generated from the code: ``wess config reference``.

docs/configuration.md embeds these parts verbatim (a test keeps them identical): the
list of sections, every key, the sandbox limits, and an example error produced by
validating ``EXAMPLE_BAD_FILE`` for real. A table is a list of columns (``KEY_COLUMNS``),
one of which says whether a running server applies the key on reload
(``Section.RELOADABLE``) or needs a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic.fields import FieldInfo

from wess.config.loading import ENV_ALIASES, ENV_PREFIX, KEY_ALIASES, settings_from_toml
from wess.config.rules import kind, rule
from wess.config.sections import LIMIT_KEYS, SECTIONS
from wess.errors import ConfigError
from wess.runtime.limits import LIMITS, LimitSpec

EXAMPLE_BAD_FILE = """\
[server]
port = 80800

[database]
db = "postgres"

[reader]
cache_size = 67108864
"""
"""A file with three mistakes, validated to produce the documented example error."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One row of a section's table: a key, or another name for one (``alias_of``)."""

    section: str
    key: str
    field: FieldInfo
    alias_of: str | None = None

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def field_key(self) -> str:
        """The key this row sets (an alias's target)."""
        return self.key if self.alias_of is None else self.alias_of.partition(".")[2]


Column = tuple[str, Callable[[KeyRow], str]]


def _environment(row: KeyRow) -> str:
    names = [f"{ENV_PREFIX}{row.section.upper()}_{row.key.upper()}"]
    names += [alias for alias, target in ENV_ALIASES.items() if target == (row.section, row.key)]
    return ", ".join(f"`{name}`" for name in names)


def _meaning(row: KeyRow) -> str:
    if row.alias_of is not None:
        return f"The original Wess's name for `{row.alias_of}`: the same setting."
    return str(row.field.description)


def _reloads(row: KeyRow) -> str:
    key = row.field_key
    return "yes" if key in SECTIONS[row.section].RELOADABLE else "restart"


KEY_COLUMNS: tuple[Column, ...] = (
    ("key", lambda row: f"`{row.dotted}`"),
    ("type", lambda row: kind(row.field)),
    ("default", lambda row: "" if row.alias_of else f"`{shown(row.field.default)}`"),
    ("allowed", lambda row: rule(row.field)),
    ("environment", _environment),
    ("reloads", _reloads),
    ("meaning", _meaning),
)


def reference_markdown() -> str:
    """Every key of every section, one table per section."""
    lines: list[str] = []
    for section, model in SECTIONS.items():
        rows = [KeyRow(section, name, field) for name, field in model.model_fields.items()]
        rows += [
            KeyRow(section, alias, model.model_fields[key], alias_of=f"{section}.{key}")
            for (alias_section, alias), (target, key) in KEY_ALIASES.items()
            if alias_section == section and target == section
        ]
        lines += [f"### [{section}]", "", *_table(KEY_COLUMNS, rows), ""]
    return "\n".join(lines)


def sections_markdown() -> str:
    """The sections a file may have, in order: ``[server]``, ``[database]`` ..."""
    return ", ".join(f"`[{section}]`" for section in SECTIONS)


LIMIT_COLUMNS: tuple[tuple[str, Callable[[LimitSpec], str]], ...] = (
    ("limit", lambda spec: f"`{spec.name}`"),
    ("configured by", lambda spec: "`{}.{}`".format(*LIMIT_KEYS[spec.name])),
    ("per call", lambda spec: f'`"limits": {{"{spec.name}": …}}`' if spec.per_call else "no"),
    ("default", lambda spec: f"`{shown(spec.default)}`"),
    ("allowed", lambda spec: f"{spec.minimum} … {spec.maximum}"),
    ("unit", lambda spec: spec.unit),
    ("meaning", lambda spec: spec.description),
)


def limits_markdown() -> str:
    """The sandbox limits: the key that sets each, and whether a request may lower it."""
    return "\n".join(_table(LIMIT_COLUMNS, LIMITS)) + "\n"


def example_error_markdown() -> str:
    """``EXAMPLE_BAD_FILE`` and what ``wess serve`` prints when it validates it."""
    try:
        settings_from_toml(EXAMPLE_BAD_FILE)
    except ConfigError as exc:
        return f"```toml\n{EXAMPLE_BAD_FILE}```\n\n```\nerror: {exc}\n```\n"
    raise AssertionError("EXAMPLE_BAD_FILE validates: it must show an error")


def shown(default: Any) -> str:
    """A default as a TOML reader would write it."""
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, Path) and not default.is_absolute():
        return f"./{default}"
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, tuple):
        return "[" + ", ".join(f'"{item}"' for item in default) + "]"
    return '""' if default == "" else str(default)


def _table(columns: tuple[tuple[str, Callable[[T], str]], ...], rows: Iterable[T]) -> list[str]:
    lines = [
        "| " + " | ".join(name for name, _ in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell(row) for _, cell in columns) + " |")
    return lines
