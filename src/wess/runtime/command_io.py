"""A command's input and output, whatever kind of guest runs it.

A command (a WASI preview 1 module exporting ``_start``, or a WASI 0.2 component
exporting ``wasi:cli/run``) reads ``stdin``, sees ``argv`` and ``env``, and leaves
its stdout, its stderr and an exit status. These values carry that across the layers;
nothing here knows wasmtime. ``BoundedOutput`` keeps what a guest writes up to a
limit and marks, per stream, what it dropped: truncation is reported, never silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_SUCCESS = 0
PROGRAM_NAME = "main"
"""``argv[0]`` when a caller names no arguments: C and AssemblyScript expect one."""


@dataclass(frozen=True, slots=True)
class CommandInput:
    """What a command is started with: the bytes of its stdin, its arguments (``argv[0]``
    is the program's name) and its environment, as (name, value) pairs."""

    stdin: bytes = b""
    argv: tuple[str, ...] = (PROGRAM_NAME,)
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CommandOutput:
    """What a command left: its output (each stream up to the output limit), which of
    the streams were cut, and its exit status (0 when ``_start`` returned)."""

    stdout: bytes
    stderr: bytes
    exit_code: int = EXIT_SUCCESS
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated


@dataclass(slots=True)
class BoundedOutput:
    """The stdout and stderr of one call, each kept up to ``limit`` bytes.

    Past the limit output is dropped and the stream marked truncated; the guest is told
    every byte was written, so it does not retry or fail.
    """

    limit: int
    _stdout: bytearray = field(default_factory=bytearray)
    _stderr: bytearray = field(default_factory=bytearray)
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    @property
    def stdout(self) -> bytes:
        return bytes(self._stdout)

    @property
    def stderr(self) -> bytes:
        return bytes(self._stderr)

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated

    def write_stdout(self, data: bytes) -> int:
        """Keep what fits of ``data``; the bytes the guest is told were written."""
        kept = self._append(self._stdout, data)
        if kept < len(data):
            self.stdout_truncated = True
        return len(data)

    def write_stderr(self, data: bytes) -> int:
        kept = self._append(self._stderr, data)
        if kept < len(data):
            self.stderr_truncated = True
        return len(data)

    def _append(self, buffer: bytearray, data: bytes) -> int:
        room = max(self.limit - len(buffer), 0)
        kept = data if len(data) <= room else data[:room]
        buffer += kept
        return len(kept)

    def result(self, exit_code: int = EXIT_SUCCESS) -> CommandOutput:
        return CommandOutput(
            stdout=self.stdout,
            stderr=self.stderr,
            exit_code=exit_code,
            stdout_truncated=self.stdout_truncated,
            stderr_truncated=self.stderr_truncated,
        )
