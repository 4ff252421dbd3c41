"""Every configuration key as Markdown: ``wess config reference``, docs/configuration.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wess.config.loading import ENV_ALIASES, ENV_PREFIX
from wess.config.sections import SECTIONS


def reference_markdown() -> str:
    """Every key as Markdown tables (docs/configuration.md embeds this verbatim)."""
    lines: list[str] = []
    for section, model in SECTIONS.items():
        lines += [
            f"### [{section}]",
            "",
            "| key | environment | default | allowed | meaning |",
            "|---|---|---|---|---|",
        ]
        for name, field in model.model_fields.items():
            env = f"{ENV_PREFIX}{section.upper()}_{name.upper()}"
            aliases = [alias for alias, target in ENV_ALIASES.items() if target == (section, name)]
            names = ", ".join(f"`{n}`" for n in [env, *aliases])
            lines.append(
                f"| `{section}.{name}` | {names} | `{_shown(field.default)}` | "
                f"{_rule(field)} | {field.description} |"
            )
        lines.append("")
    return "\n".join(lines)


def _shown(default: Any) -> str:
    if default is None:
        return "unset"
    if isinstance(default, Path) and not default.is_absolute():
        return f"./{default}"
    if isinstance(default, float):
        return f"{default:g}"
    return '""' if default == "" else str(default)


def _rule(field: Any) -> str:
    literal = getattr(field.annotation, "__args__", None)
    if literal and all(isinstance(item, str) for item in literal):
        return " / ".join(literal)
    rules = []
    for meta in field.metadata:
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                rules.append(f"{symbol} {value}")
        if getattr(meta, "min_length", None):
            rules.append(f"length >= {meta.min_length}")
    return ", ".join(rules)
