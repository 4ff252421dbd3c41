"""What one call's guest reads and writes through the host: stdin, stdout and stderr,
and the log lines of ``wess:log@1``.

wasmtime's own WASI stdin is never used: a stdin given to wasmtime's WASI context
(``stdin_bytes``, ``stdin_file``) left a panic inside its internal tokio runtime when
the interpreter exited (exit status 134 after a run that had succeeded). Wess shadows
``fd_read`` and ``fd_write`` in its linker (``host.build_linker``) with functions that
read and write the ``GuestIO`` of the call running on the current thread
(``CallSlot``): wasmtime runs host functions on the thread that called into the guest,
so a per-thread slot set around the call is exact, and the linker stays shared by every
Store.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from wess.runtime.command_io import BoundedOutput

LEVELS = ("debug", "info", "warn", "error")
"""``wess:log@1`` levels by number; a number past the last is an error."""
MAX_LOG_LINES = 100
MAX_LOG_BYTES = 16 << 10


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line a guest logged: its level name and its text (UTF-8, invalid bytes
    replaced)."""

    level: str
    message: str

    def document(self) -> dict[str, str]:
        return {"level": self.level, "message": self.message}


class LogBook:
    """A call's log lines: at most ``max_lines`` lines and ``max_bytes`` bytes of text;
    lines past either bound are counted in ``dropped``, never kept."""

    __slots__ = ("_bytes", "dropped", "lines", "max_bytes", "max_lines")

    def __init__(self, *, max_lines: int = MAX_LOG_LINES, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.lines: list[LogLine] = []
        self.dropped = 0
        self._bytes = 0

    def room(self) -> int:
        """Bytes the next line may take (0: it would be dropped)."""
        if len(self.lines) >= self.max_lines:
            return 0
        return self.max_bytes - self._bytes

    def add(self, level: int, text: bytes) -> None:
        if len(self.lines) >= self.max_lines or len(text) > self.max_bytes - self._bytes:
            self.dropped += 1
            return
        self._bytes += len(text)
        name = LEVELS[level] if 0 <= level < len(LEVELS) else LEVELS[-1]
        self.lines.append(LogLine(name, text.decode("utf-8", errors="replace")))


class GuestIO:
    """One call's stdin (read from the start, once), its bounded output and its logs."""

    __slots__ = ("_position", "logs", "output", "stdin")

    def __init__(self, *, stdin: bytes = b"", max_output: int) -> None:
        self.stdin = stdin
        self._position = 0
        self.output = BoundedOutput(max_output)
        self.logs = LogBook()

    def read(self, size: int) -> bytes:
        """Up to ``size`` more bytes of stdin; empty at its end."""
        start = self._position
        chunk = self.stdin[start : start + size]
        self._position = start + len(chunk)
        return chunk


class CallSlot(threading.local):
    """The ``GuestIO`` of the call running on each thread (None between calls)."""

    current: GuestIO | None = None
