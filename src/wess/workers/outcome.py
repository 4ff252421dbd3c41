"""What one completed invocation answers with, whatever called it."""

from __future__ import annotations

from dataclasses import dataclass

from wess.runtime.codec import JsonValue
from wess.runtime.command_io import CommandOutput
from wess.runtime.guestio import LogLine


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """One completed invocation, ready to be answered."""

    results: list[JsonValue]
    function: str
    duration_us: int
    fuel_used: int | None
    stdout: bytes
    stderr: bytes
    output_truncated: bool
    exit_code: int | None = None
    """A command's exit status; None for a function call."""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    logs: tuple[LogLine, ...] = ()
    logs_dropped: int = 0
    revision: int | None = None
    """The revision of the module that ran."""

    def output(self) -> CommandOutput:
        """A command's output (``exit_code`` set)."""
        return CommandOutput(
            stdout=self.stdout,
            stderr=self.stderr,
            exit_code=self.exit_code or 0,
            stdout_truncated=self.stdout_truncated,
            stderr_truncated=self.stderr_truncated,
        )
