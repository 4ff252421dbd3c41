"""docs/configuration.md's generated parts, and the renderer that keeps them current.

Each part sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``; the
prose around the parts is written by hand. ``render`` replaces every part with what the
code says now (``wess config reference --write docs/configuration.md``); a test fails
when the committed file differs from ``render`` of itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import typer

from wess.config.reference import (
    example_error_markdown,
    limits_markdown,
    reference_markdown,
    sections_markdown,
)
from wess.config.rules import kind
from wess.config.sections import SECTIONS

_PART = re.compile(
    r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?:.*?\n)?(<!-- end: (?P=name) -->)", re.S
)


def serve_flags_markdown() -> str:
    """Every option of ``wess serve``, read from the command itself, with the key it sets."""
    from wess.cli import app
    from wess.cli.server import SERVE_FLAGS

    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    lines = ["| flag | type | sets | meaning |", "|---|---|---|---|"]
    for option in serve.params:
        dotted = SERVE_FLAGS.get(option.name)
        if dotted is None:
            sets, kind_of = "the file to read (see above)", "path"
        else:
            section, key = dotted.split(".")
            sets, kind_of = f"`{dotted}`", kind(SECTIONS[section].model_fields[key])
        flag = ", ".join(f"`{opt}`" for opt in option.opts)
        lines.append(f"| {flag} | {kind_of} | {sets} | {option.help} |")
    return "\n".join(lines) + "\n"


PARTS: dict[str, Callable[[], str]] = {
    "sections": sections_markdown,
    "flags": serve_flags_markdown,
    "example-error": example_error_markdown,
    "limits": limits_markdown,
    "keys": reference_markdown,
}
"""Name -> generator of each part, in the order the document shows them."""


def configuration_parts() -> dict[str, str]:
    """Every generated part, by name."""
    return {name: make() for name, make in PARTS.items()}


def render(document: str) -> str:
    """``document`` with each generated part replaced by its current text.

    ValueError if the document lacks a part (or names one that does not exist), so a
    part cannot silently go missing.
    """
    parts = configuration_parts()
    found = [match.group("name") for match in _PART.finditer(document)]
    if sorted(found) != sorted(parts):
        raise ValueError(f"generated parts found: {found}; expected each of: {list(parts)}")
    return _PART.sub(
        lambda m: m.group(1) + parts[m.group("name")].rstrip("\n") + "\n" + m.group(3), document
    )
