"""Help pages without type noise: ``--port PORT``, not ``--port <int>``; ``ID``, not
``{module_id}``.

Typer labels every parameter with its Python type (``<str>``, ``<bool>``,
``<list[str]>``) and wraps a required argument's name in braces on the usage line.
``tidy`` walks the click commands Typer built and gives each parameter the label a
person reads: its ``metavar`` (each command declares one; an undeclared one becomes
its name in capitals), flags none, arguments as ``NAME`` or ``[NAME]...``.
"""

from __future__ import annotations

from typing import Any


def tidy(command: Any) -> Any:
    """``command`` (a click command, as Typer builds it with the click it bundles) and its
    subcommands, their parameters labelled for people."""
    for param in command.params:
        _label(param)
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)
    return command


def _label(param: Any) -> None:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        _set(param, "display_type_rich", lambda ctx: None)
        return
    metavar = param.metavar or (param.name or "value").upper()
    param.metavar = metavar
    if param.param_type_name == "argument":
        many = param.nargs != 1 and not metavar.endswith("...")
        shown = metavar + ("..." if many else "")
        usage = shown if param.required or metavar.startswith("[") else f"[{shown}]"
        _set(param, "display_type_rich", lambda ctx: None)
        _set(param, "_rich_display_name", lambda: shown)
        _set(param, "_usage_display_name", lambda: usage)


def _set(param: Any, name: str, value: Any) -> None:
    """Replace one of Typer's label methods on this parameter only."""
    if hasattr(param, name):
        setattr(param, name, value)
