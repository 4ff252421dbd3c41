"""How listings print: ``--output table`` (the default), ``wide`` or ``json``.

Tables are plain text, columns aligned with two spaces, every value whole: an id is
never cut to fit the terminal (a line longer than the terminal wraps there, as
``kubectl get`` does), so ``wess ls | cat`` and ``wess ls | awk '{print $1}'`` get whole
values. ``wide`` adds columns; ``json`` prints the server's documents as one JSON array
(or object), for programs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer


class Output(StrEnum):
    TABLE = "table"
    WIDE = "wide"
    JSON = "json"


OutputOption = Annotated[
    Output,
    typer.Option(
        "--output",
        "-o",
        metavar="table|wide|json",
        help="table (default), wide (more columns) or json (whole documents).",
    ),
]


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its header, how a row shows in it, and whether only ``wide``
    shows it."""

    header: str
    value: Callable[[Mapping[str, Any]], object]
    wide: bool = False


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *, wide: bool) -> str:
    """``rows`` as an aligned table (no trailing spaces); the header alone for none."""
    shown = [column for column in columns if wide or not column.wide]
    lines = [[column.header for column in shown]]
    lines += [[cell(column.value(row)) for column in shown] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(shown))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def emit(documents: Sequence[Mapping[str, Any]], columns: Sequence[Column], output: Output) -> None:
    """Print ``documents`` as ``output`` asks."""
    if output is Output.JSON:
        typer.echo(json.dumps(list(documents), indent=2))
        return
    typer.echo(table_text(documents, columns, wide=output is Output.WIDE))


def emit_document(document: Mapping[str, Any], output: Output) -> None:
    """One document: JSON, or ``key: value`` lines (nested values as JSON)."""
    if output is Output.JSON:
        typer.echo(json.dumps(document, indent=2))
        return
    width = max((len(key) for key in document), default=0)
    for key, value in document.items():
        shown = json.dumps(value) if isinstance(value, list | dict) else cell(value)
        typer.echo(f"{key + ':':<{width + 1}} {shown}")


def size(value: object) -> str:
    """A byte count for people: ``1.5 MiB``."""
    if not isinstance(value, int):
        return cell(value)
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{value} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return cell(value)
