"""/v1 runs of WASI commands: stdin as JSON text, base64 or a raw body; stdout as JSON
or as the body; argv, env, exit codes, truncation and log lines."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.fixtures import wasm
from wess.testing import assert_problem, open_client, test_settings


@pytest.fixture
async def echo(upload) -> str:
    module = await upload("echo_command")
    return f"/v1/modules/{module['id']}/run"


async def test_json_on_stdin_comes_back_on_stdout(client: httpx.AsyncClient, echo: str) -> None:
    """{"stdin": text} runs _start; the answer holds stdout, stderr, exit code, truncation."""
    payload = json.dumps({"name": "wess"})
    response = await client.post(echo, json={"stdin": payload})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stdout"] == payload
    assert body["stderr"] == "main\n"
    assert body["exit_code"] == 0
    assert body["truncated"] == {"stdout": False, "stderr": False}
    assert body["function"] == "_start"
    assert "logs" not in body


async def test_argv_and_env(client: httpx.AsyncClient, echo: str) -> None:
    """argv and allowed env (in the request's order) reach the guest."""
    response = await client.post(
        echo, json={"stdin": "x", "argv": ["prog", "a"], "env": {"APP_EXIT": "1", "LANG": "C"}}
    )
    body = response.json()
    assert body["stderr"] == "prog\na\nAPP_EXIT=1\nLANG=C\n"


async def test_env_outside_the_allow_list_is_400(client: httpx.AsyncClient, echo: str) -> None:
    """A variable the commands.env_allowed patterns do not match is refused, named."""
    body = assert_problem(
        await client.post(echo, json={"env": {"PATH": "/bin"}}), 400, "invalid_request"
    )
    assert "PATH" in body["detail"]


async def test_raw_body_in_raw_stdout_out(client: httpx.AsyncClient, echo: str) -> None:
    """An octet-stream body is stdin; Accept: octet-stream answers stdout itself."""
    data = bytes(range(256))
    response = await client.post(
        echo,
        content=data,
        headers={"content-type": "application/octet-stream", "accept": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert response.content == data
    assert response.headers["wess-exit-code"] == "0"
    assert response.headers["wess-truncated"] == "none"
    assert base64.b64decode(response.headers["wess-stderr-base64"]) == b"main\n"


async def test_binary_stdout_comes_as_base64(client: httpx.AsyncClient, echo: str) -> None:
    """stdin_base64 in; stdout that is not UTF-8 comes back as stdout_base64."""
    data = b"\xff\x00\xfe"
    response = await client.post(echo, json={"stdin_base64": base64.b64encode(data).decode()})
    body = response.json()
    assert "stdout" not in body
    assert base64.b64decode(body["stdout_base64"]) == data


async def test_output_past_the_limit_is_marked() -> None:
    """stdout past limits.max_output is cut and truncated.stdout says so."""
    async with open_client(test_settings(WESS_LIMITS_MAX_OUTPUT="1024")) as client:
        created = await client.post(
            "/v1/modules",
            content=wasm("echo_command"),
            headers={"content-type": "application/wasm"},
        )
        url = f"/v1/modules/{created.json()['id']}/run"
        response = await client.post(url, json={"stdin": "y" * 5000})
    body = response.json()
    assert body["stdout"] == "y" * 1024
    assert body["truncated"] == {"stdout": True, "stderr": False}


async def test_a_command_module_runs_as_a_command_without_input(
    client: httpx.AsyncClient, echo: str
) -> None:
    """{} (or "function": "_start") runs a command with empty stdin."""
    for body in ({}, {"function": "_start"}):
        response = await client.post(echo, json=body)
        assert response.json()["exit_code"] == 0
        assert response.json()["stdout"] == ""


async def test_stdin_for_a_function_module_is_400(client: httpx.AsyncClient, upload) -> None:
    """A command request to a module that is no command is refused, saying why."""
    module = await upload("sum")
    body = assert_problem(
        await client.post(f"/v1/modules/{module['id']}/run", json={"stdin": "x"}),
        400,
        "invalid_request",
    )
    assert "not a command" in body["detail"]


async def test_logs_come_back_when_asked(client: httpx.AsyncClient, upload) -> None:
    """A function's wess:log@1 lines come back with "logs": true (or ?logs=true) only."""
    module = await upload("host_api")
    url = f"/v1/modules/{module['id']}/run"
    plain = await client.post(url, json={"function": "work", "args": [1]})
    assert "logs" not in plain.json()
    asked = await client.post(url, json={"function": "work", "args": [1], "logs": True})
    assert asked.json()["logs"] == [
        {"level": "info", "message": "starting"},
        {"level": "warn", "message": "done ✓"},
    ]
    query = await client.post(url, params={"logs": "true"}, json={"function": "work", "args": [0]})
    assert query.json()["logs"] == [{"level": "info", "message": "starting"}]
    many = await client.post(url, json={"function": "work", "args": [200], "logs": True})
    assert len(many.json()["logs"]) == 100
    assert many.json()["logs_dropped"] == 101


async def test_too_much_stdin_is_413(client: httpx.AsyncClient, echo: str) -> None:
    """A raw body past commands.max_stdin is refused before it runs."""
    response = await client.post(
        echo,
        content=b"z" * ((1 << 20) + 1),
        headers={"content-type": "application/octet-stream"},
    )
    assert_problem(response, 413, "payload_too_large")
