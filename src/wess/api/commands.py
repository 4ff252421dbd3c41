"""Command calls over HTTP: the request forms and the answer, for any kind of command.

A command (a WASI module exporting ``_start``, or a component exporting
``wasi:cli/run``) is run with ``POST /v1/modules/{id}/run`` and one of:

- ``{"stdin": "<text>"}`` or ``{"stdin_base64": "..."}``, with ``argv`` (strings) and
  ``env`` (a map of names a ``CommandPolicy`` allows), ``limits`` and ``logs``;
- a raw body (``Content-Type: application/octet-stream``, or ``text/plain``): the
  bytes are stdin; ``?logs=true`` asks for the call's log lines.

The answer is a JSON document (``command_document``): ``stdout`` and ``stderr`` as
text (``stdout_base64``/``stderr_base64`` instead when a stream is not UTF-8),
``exit_code``, ``truncated`` (per stream: cut at the output limit, never silently),
the duration, fuel and, when asked, ``logs``. With ``Accept: application/octet-stream``
(or ``text/plain``) the body is stdout itself, and the rest travels in ``Wess-*``
headers (``raw_headers``). Pure: no wasm, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from wess.errors import InvalidRequest, PayloadTooLarge
from wess.runtime.command_io import PROGRAM_NAME, CommandInput, CommandOutput
from wess.runtime.reasons import listed_sorted

COMMAND_FIELDS = frozenset({"stdin", "stdin_base64", "argv", "env", "limits", "logs"})
"""What a JSON command request may hold."""
MARKERS = frozenset({"stdin", "stdin_base64", "argv", "env"})
"""Fields that make a JSON run request a command request, whatever the module."""
RAW_TYPES = (b"application/octet-stream", b"text/plain")
"""Request bodies taken as stdin as they are, and the answers that are stdout itself."""
EXIT_HEADER = "wess-exit-code"
TRUNCATED_HEADER = "wess-truncated"
STDERR_HEADER = "wess-stderr-base64"
HEADER_STDERR_BYTES = 4096
"""stderr carried in a raw answer's header, at most (base64 of its first bytes)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandPolicy:
    """What a request may hand a command: stdin bytes, argv entries, env variables
    (names matching ``env_allowed``, exact or shell patterns), and bytes of argv and
    env together."""

    max_stdin: int = 1 << 20
    max_argv: int = 64
    max_env: int = 64
    max_arg_bytes: int = 64 << 10
    env_allowed: tuple[str, ...] = ("LANG", "LC_*", "TZ", "LOG_LEVEL", "DEBUG", "APP_*")

    def allows(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.env_allowed)

    @property
    def body_limit(self) -> int:
        """The largest request body a command call may need: stdin as base64 in JSON,
        plus its arguments and environment."""
        return (self.max_stdin + 2) // 3 * 4 + 2 * self.max_arg_bytes + 4096


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A parsed command call: its input, the limits it lowers (``limits``: the raw
    object, checked by the run route), and whether it asks for its log lines."""

    input: CommandInput
    limits: Any = None
    logs: bool = False


def is_raw(content_type: bytes | None) -> bool:
    """Whether a body of ``content_type`` is stdin as it is."""
    if content_type is None:
        return False
    return content_type.split(b";", 1)[0].strip().lower() in RAW_TYPES


def is_command_document(document: Any) -> bool:
    """Whether a JSON run request is a command request by its own fields."""
    return isinstance(document, dict) and not MARKERS.isdisjoint(document)


def asks_logs(query_string: bytes) -> bool:
    """``?logs=true`` (or ``1``) in a run request's query."""
    for name, value in parse_qsl(query_string.decode("latin-1")):
        if name == "logs":
            return value.lower() in ("true", "1", "yes")
    return False


def wants_raw(accept: bytes | None) -> bool:
    """Whether ``Accept`` asks for stdout itself rather than the JSON document: a raw
    type named before (or without) ``application/json``."""
    if not accept:
        return False
    for part in accept.split(b","):
        kind = part.split(b";", 1)[0].strip().lower()
        if kind in RAW_TYPES:
            return True
        if kind in (b"application/json", b"application/*", b"*/*"):
            return False
    return False


def raw_request(body: bytes, *, policy: CommandPolicy, logs: bool = False) -> CommandRequest:
    """A raw body as a command's stdin."""
    _check_stdin(len(body), policy)
    return CommandRequest(CommandInput(stdin=body, argv=(PROGRAM_NAME,)), logs=logs)


def parse_command_request(
    document: Any, *, policy: CommandPolicy, logs: bool = False
) -> CommandRequest:
    """``{"stdin" | "stdin_base64", "argv", "env", "limits", "logs"}`` -> CommandRequest;
    ``InvalidRequest`` naming the field at fault, ``PayloadTooLarge`` past the policy's
    bounds. ``logs`` is the query's ``?logs=`` (the body's ``logs`` may also ask)."""
    if not isinstance(document, dict):
        raise InvalidRequest('the body must be a JSON object like {"stdin": "hello"}')
    unknown = document.keys() - COMMAND_FIELDS
    if unknown:
        raise InvalidRequest(
            f"unknown field(s) for a command: {listed_sorted(unknown)}; "
            f"allowed: {', '.join(sorted(COMMAND_FIELDS))}"
        )
    stdin = _stdin(document)
    _check_stdin(len(stdin), policy)
    argv = _argv(document.get("argv"), policy)
    env = _env(document.get("env"), policy)
    if sum(map(len, argv)) + sum(len(k) + len(v) for k, v in env) > policy.max_arg_bytes:
        raise PayloadTooLarge(
            f"argv and env hold more than {policy.max_arg_bytes} bytes (commands.max_arg_bytes)",
            limit=policy.max_arg_bytes,
        )
    asked = document.get("logs", False)
    if not isinstance(asked, bool):
        raise InvalidRequest("logs must be true or false", field="logs")
    return CommandRequest(
        CommandInput(stdin=stdin, argv=argv, env=env),
        limits=document.get("limits"),
        logs=logs or asked,
    )


def _stdin(document: Mapping[str, Any]) -> bytes:
    text, encoded = document.get("stdin"), document.get("stdin_base64")
    if text is not None and encoded is not None:
        raise InvalidRequest("send stdin or stdin_base64, not both", field="stdin")
    if text is not None:
        if not isinstance(text, str):
            raise InvalidRequest("stdin must be a string (text)", field="stdin")
        return text.encode()
    if encoded is not None:
        if not isinstance(encoded, str):
            raise InvalidRequest("stdin_base64 must be a base64 string", field="stdin_base64")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("stdin_base64 is not valid base64", field="stdin_base64") from None
    return b""


def _check_stdin(size: int, policy: CommandPolicy) -> None:
    if size > policy.max_stdin:
        raise PayloadTooLarge(
            f"stdin is {size} bytes; the limit is {policy.max_stdin} bytes (commands.max_stdin)",
            limit=policy.max_stdin,
        )


def _argv(raw: Any, policy: CommandPolicy) -> tuple[str, ...]:
    if raw is None:
        return (PROGRAM_NAME,)
    if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
        raise InvalidRequest("argv must be an array of strings", field="argv")
    if len(raw) > policy.max_argv:
        raise InvalidRequest(
            f"argv has {len(raw)} entries; at most {policy.max_argv} are accepted "
            "(commands.max_argv)",
            field="argv",
        )
    if any("\x00" in a for a in raw):
        raise InvalidRequest("argv entries may not contain NUL", field="argv")
    return tuple(raw) if raw else (PROGRAM_NAME,)


def _env(raw: Any, policy: CommandPolicy) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise InvalidRequest("env must be an object of strings", field="env")
    if len(raw) > policy.max_env:
        raise InvalidRequest(
            f"env has {len(raw)} variables; at most {policy.max_env} are accepted "
            "(commands.max_env)",
            field="env",
        )
    refused = [
        name for name in raw if not name or "=" in name or "\x00" in name or not policy.allows(name)
    ]
    if refused:
        allowed = ", ".join(policy.env_allowed) or "none"
        raise InvalidRequest(
            f"env variable(s) not allowed: {listed_sorted(refused)}; allowed "
            f"(commands.env_allowed): {allowed}",
            field="env",
        )
    if any("\x00" in value for value in raw.values()):
        raise InvalidRequest("env values may not contain NUL", field="env")
    return tuple(raw.items())


# -- the answer ---------------------------------------------------------------------------


def _text_or_base64(document: dict[str, Any], name: str, data: bytes) -> None:
    try:
        document[name] = data.decode("utf-8")
    except UnicodeDecodeError:
        document[f"{name}_base64"] = base64.b64encode(data).decode("ascii")


def command_document(
    output: CommandOutput,
    *,
    function: str,
    duration_us: int,
    fuel_used: int | None = None,
    logs: Sequence[Mapping[str, Any]] | None = None,
    logs_dropped: int = 0,
) -> dict[str, Any]:
    """The JSON answer of a command call. ``logs`` is included when not None (asked),
    with ``logs_dropped`` when lines were past the bound."""
    document: dict[str, Any] = {}
    _text_or_base64(document, "stdout", output.stdout)
    _text_or_base64(document, "stderr", output.stderr)
    document["exit_code"] = output.exit_code
    document["truncated"] = {
        "stdout": output.stdout_truncated,
        "stderr": output.stderr_truncated,
    }
    document["function"] = function
    document["duration_us"] = duration_us
    if fuel_used is not None:
        document["fuel_used"] = fuel_used
    if logs is not None:
        document["logs"] = list(logs)
        if logs_dropped:
            document["logs_dropped"] = logs_dropped
    return document


def raw_headers(output: CommandOutput) -> list[tuple[bytes, bytes]]:
    """The headers of a raw answer (stdout as the body): the exit code, the streams
    cut at the output limit (``none`` when none was), and the start of stderr."""
    cut = [name for name, flag in _streams(output) if flag]
    headers = [
        (EXIT_HEADER.encode(), str(output.exit_code).encode()),
        (TRUNCATED_HEADER.encode(), (",".join(cut) or "none").encode()),
    ]
    if output.stderr:
        head = base64.b64encode(output.stderr[:HEADER_STDERR_BYTES])
        headers.append((STDERR_HEADER.encode(), head))
    return headers


def _streams(output: CommandOutput) -> Iterable[tuple[str, bool]]:
    return (("stdout", output.stdout_truncated), ("stderr", output.stderr_truncated))
