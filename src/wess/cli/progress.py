"""Progress of long operations: a rich bar on a terminal, plain lines otherwise.

Progress goes to standard error, so standard output keeps only the result (a dump, an
id, a report). On a terminal it is a live line with a bar (when the total is known),
counts, bytes, rate and elapsed time; otherwise (a pipe, a log, CI) a line when the
operation starts, one every ``every`` items, and one when it ends: nothing that needs
a terminal to read.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from wess.cli.output import size


class Meter:
    """Counts ``unit`` (records, files ...) and bytes towards ``total_bytes`` (None:
    unknown); ``update`` with the running totals."""

    def __init__(
        self,
        label: str,
        *,
        console: Console,
        unit: str = "records",
        total_bytes: int | None = None,
        every: int = 1000,
    ) -> None:
        self._label = label
        self._console = console
        self._unit = unit
        self._total = total_bytes
        self._every = every
        self._count = 0
        self._bytes = 0
        self._reported = 0
        self._live: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        if self._console.is_terminal:
            self._live = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn() if self._total else TextColumn(""),
                TextColumn("{task.fields[count]} " + self._unit),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                console=self._console,
                transient=False,
            )
            self._live.start()
            self._task = self._live.add_task(self._label, total=self._total, count=0)
        else:
            self._console.print(f"{self._label} ...")
        return self

    def update(self, count: int, done_bytes: int = 0) -> None:
        self._count, self._bytes = count, done_bytes
        if self._live is not None and self._task is not None:
            self._live.update(self._task, completed=done_bytes, count=count)
        elif count - self._reported >= self._every:
            self._reported = count
            self._console.print(f"{self._label}: {self._line()}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            return
        ending = "done" if exc_type is None else "stopped"
        counted = self._line() if self._count or self._bytes else ""
        self._console.print(f"{self._label}: {ending}" + (f", {counted}" if counted else ""))

    def _line(self) -> str:
        unit = self._unit.removesuffix("s") if self._count == 1 else self._unit
        done = f"{self._count} {unit}, {size(self._bytes)}"
        if self._total:
            done += f" of {size(self._total)}"
        return done
