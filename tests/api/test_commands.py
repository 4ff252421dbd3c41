"""The command request forms and answer (wess.api.commands): pure, no server."""

from __future__ import annotations

import base64

import pytest

from wess.api.commands import (
    CommandPolicy,
    asks_logs,
    command_document,
    is_command_document,
    is_raw,
    parse_command_request,
    raw_headers,
    raw_request,
    wants_raw,
)
from wess.errors import InvalidRequest, PayloadTooLarge
from wess.runtime.command_io import BoundedOutput, CommandOutput

POLICY = CommandPolicy(max_stdin=16, max_argv=3, max_env=2, max_arg_bytes=64)


def test_text_stdin_argv_and_env_are_parsed() -> None:
    """stdin text is UTF-8 encoded; argv and env are kept in order."""
    request = parse_command_request(
        {"stdin": "héllo", "argv": ["prog", "-v"], "env": {"LANG": "C"}, "logs": True},
        policy=POLICY,
    )
    assert request.input.stdin == "héllo".encode()
    assert request.input.argv == ("prog", "-v")
    assert request.input.env == (("LANG", "C"),)
    assert request.logs is True


def test_base64_stdin_is_decoded_and_argv0_defaults() -> None:
    """stdin_base64 carries bytes; without argv the program is named ``main``."""
    request = parse_command_request({"stdin_base64": "AAEC/w=="}, policy=POLICY)
    assert request.input.stdin == b"\x00\x01\x02\xff"
    assert request.input.argv == ("main",)
    assert request.logs is False


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"stdin": "a", "stdin_base64": "YQ=="}, "stdin"),
        ({"stdin": 5}, "stdin"),
        ({"stdin_base64": "not base64!"}, "stdin_base64"),
        ({"argv": "prog"}, "argv"),
        ({"argv": ["a", "b", "c", "d"]}, "argv"),
        ({"env": {"PATH": "/bin"}}, "env"),
        ({"env": {"LANG": 1}}, "env"),
        ({"env": {"A=B": "x"}}, "env"),
        ({"logs": "yes"}, "logs"),
    ],
)
def test_bad_fields_are_refused_by_name(document: dict[str, object], field: str) -> None:
    """Each malformed field is refused with its name."""
    with pytest.raises(InvalidRequest) as caught:
        parse_command_request(document, policy=POLICY)
    assert caught.value.context.get("field") == field


def test_unknown_fields_are_refused() -> None:
    """A field a command does not take is named in the refusal."""
    with pytest.raises(InvalidRequest, match="args"):
        parse_command_request({"stdin": "", "args": [1]}, policy=POLICY)


def test_env_names_are_allow_listed_by_pattern() -> None:
    """Names match exactly or by shell pattern; anything else is refused."""
    policy = CommandPolicy(env_allowed=("APP_*",))
    assert policy.allows("APP_MODE")
    assert not policy.allows("HOME")
    assert CommandPolicy(env_allowed=()).allows("APP_MODE") is False


def test_stdin_and_argument_bytes_are_bounded() -> None:
    """Past max_stdin or max_arg_bytes the request is too large (413), raw or JSON."""
    with pytest.raises(PayloadTooLarge):
        parse_command_request({"stdin": "x" * 17}, policy=POLICY)
    with pytest.raises(PayloadTooLarge):
        raw_request(b"x" * 17, policy=POLICY)
    with pytest.raises(PayloadTooLarge):
        parse_command_request({"argv": ["x" * 65]}, policy=POLICY)
    assert raw_request(b"x" * 16, policy=POLICY).input.stdin == b"x" * 16


def test_request_forms_are_told_apart() -> None:
    """Raw bodies by content type; JSON command requests by their fields."""
    assert is_raw(b"application/octet-stream")
    assert is_raw(b"text/plain; charset=utf-8")
    assert not is_raw(b"application/json")
    assert not is_raw(None)
    assert is_command_document({"stdin": ""})
    assert is_command_document({"argv": []})
    assert not is_command_document({"args": [1]})
    assert not is_command_document([1])
    assert asks_logs(b"logs=true")
    assert not asks_logs(b"logs=false")
    assert not asks_logs(b"")


def test_accept_picks_raw_output_only_when_preferred() -> None:
    """A raw type before JSON (or alone) asks for stdout as the body."""
    assert wants_raw(b"application/octet-stream")
    assert wants_raw(b"text/plain, application/json")
    assert not wants_raw(b"application/json, text/plain")
    assert not wants_raw(b"*/*")
    assert not wants_raw(None)


def test_bounded_output_marks_each_stream_it_cuts() -> None:
    """Output past the limit is dropped and marked per stream; the guest is told all
    was written."""
    output = BoundedOutput(4)
    assert output.write_stdout(b"abcdef") == 6
    assert output.write_stderr(b"xy") == 2
    result = output.result(3)
    assert (result.stdout, result.stderr, result.exit_code) == (b"abcd", b"xy", 3)
    assert result.stdout_truncated
    assert not result.stderr_truncated
    assert result.truncated


def test_document_has_text_or_base64_and_truncation() -> None:
    """UTF-8 output is text; other bytes come as *_base64; truncation per stream."""
    output = CommandOutput(stdout=b"ok\n", stderr=b"\xff", exit_code=1, stdout_truncated=True)
    document = command_document(output, function="_start", duration_us=7, logs=[])
    assert document == {
        "stdout": "ok\n",
        "stderr_base64": base64.b64encode(b"\xff").decode(),
        "exit_code": 1,
        "truncated": {"stdout": True, "stderr": False},
        "function": "_start",
        "duration_us": 7,
        "logs": [],
    }
    assert "logs" not in command_document(output, function="_start", duration_us=7)


def test_raw_headers_report_exit_code_and_truncation() -> None:
    """A raw answer's headers carry the exit code, what was cut and stderr's start."""
    headers = dict(raw_headers(CommandOutput(stdout=b"", stderr=b"e", stderr_truncated=True)))
    assert headers[b"wess-exit-code"] == b"0"
    assert headers[b"wess-truncated"] == b"stderr"
    assert base64.b64decode(headers[b"wess-stderr-base64"]) == b"e"
    assert dict(raw_headers(CommandOutput(stdout=b"", stderr=b"")))[b"wess-truncated"] == b"none"
