"""POST /v1/modules/{id}/run:batch: NDJSON results streamed as calls complete."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests.fixtures import wasm
from wess.api.app import create_app
from wess.server.serving import site_policy
from wess.testing import assert_problem, open_client, test_settings

BATCH = "/v1/modules/{}/run:batch"
GUARD = 60
"""Seconds before a test that waits for a streamed line gives up (a hang is a failure,
not a timing measurement)."""


def lines_of(response: httpx.Response) -> dict[int, dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    documents = [orjson.loads(line) for line in response.content.splitlines()]
    by_index = {document["index"]: document for document in documents}
    assert len(by_index) == len(documents), "an index answered twice"
    return by_index


async def test_batch_answers_each_call_by_index_with_per_item_errors(client, upload):
    """Good calls answer their results; bad arguments and traps answer a problem on
    their own line; the batch goes on."""
    module = await upload("traps")
    response = await client.post(
        BATCH.format(module["id"]),
        json={"function": "div", "args": [[6, 3], [1, 0], [1], ["x", 1], [9, 3], 7]},
    )
    lines = lines_of(response)
    assert sorted(lines) == [0, 1, 2, 3, 4, 5]
    assert lines[0]["results"] == [2]
    assert lines[0]["function"] == "div"
    assert lines[4]["results"] == [3]
    assert lines[1]["error"]["code"] == "trap"
    assert lines[1]["error"]["status"] == 422
    for index in (2, 3, 5):
        assert lines[index]["error"]["code"] == "invalid_arguments", lines[index]


async def test_ndjson_body_with_the_function_in_the_query(client, upload):
    """One argument array a line; a line of bad JSON is that line's error."""
    module = await upload("sum")
    body = b"[1, 2]\n\n[3, 4]\nnot json\n"
    response = await client.post(
        BATCH.format(module["id"]),
        params={"function": "sum"},
        content=body,
        headers={"content-type": "application/x-ndjson"},
    )
    lines = lines_of(response)
    assert lines[0]["results"] == [3]
    assert lines[1]["results"] == [7]
    assert lines[2]["error"]["code"] == "malformed_json"


async def test_too_many_calls_are_413_before_anything_runs():
    """More than batch.max_items calls is refused whole, JSON or NDJSON."""
    async with open_client(test_settings(WESS_BATCH_MAX_ITEMS="3")) as client:
        response = await client.post(
            "/v1/modules",
            content=wasm("sum"),
            headers={"content-type": "application/wasm"},
        )
        target = BATCH.format(response.json()["id"])
        refused = await client.post(target, json={"args": [[1, 2]] * 4})
        body = assert_problem(refused, 413, "payload_too_large")
        assert "batch.max_items" in body["detail"]
        refused = await client.post(
            target, content=b"[1,2]\n" * 4, headers={"content-type": "application/x-ndjson"}
        )
        assert_problem(refused, 413, "payload_too_large")
        assert len(lines_of(await client.post(target, json={"args": [[1, 2]] * 3}))) == 3


async def test_unknown_module_or_function_is_404_before_the_stream(client, upload):
    """What would fail every call fails the request instead."""
    module = await upload("sum")
    assert_problem(
        await client.post(BATCH.format(module["id"]), json={"function": "nope", "args": [[1]]}),
        404,
        "function_not_found",
    )
    missing = "00000000-0000-4000-8000-000000000000"
    assert_problem(
        await client.post(BATCH.format(missing), json={"args": [[1, 2]]}), 404, "module_not_found"
    )
    assert_problem(
        await client.post(BATCH.format(module["id"]), json={"args": 3}), 400, "invalid_request"
    )
    assert_problem(
        await client.post(
            BATCH.format(module["id"]), content=b"x", headers={"content-type": "text/plain"}
        ),
        415,
        "unsupported_media_type",
    )


@pytest.mark.parametrize("size", [10_000])
async def test_a_batch_of_10000_calls_streams_its_results(monkeypatch, size):
    """The first lines reach the client while later calls are still held at a gate:
    the answer streams, it is not built whole. Then all 10,000 arrive, each once."""
    async with open_client() as client:
        created = await client.post(
            "/v1/modules",
            content=wasm("sum"),
            headers={"content-type": "application/wasm"},
        )
        module_id = created.json()["id"]
        service = client.state.service
        original = service.call
        gate = asyncio.Event()
        started = 0
        first = 100

        async def gated(bound: Any, args: Any, *, timeout_ms: int | None = None) -> Any:
            nonlocal started
            index, started = started, started + 1
            if index >= first:
                await gate.wait()
            return await original(bound, args, timeout_ms=timeout_ms)

        monkeypatch.setattr(service, "call", gated)
        app = create_app(client.state, sites=site_policy(client.settings, port=8080))
        body = orjson.dumps({"function": "sum", "args": [[i, 1] for i in range(size)]})
        host = urlsplit(str(client.base_url)).netloc.encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": BATCH.format(module_id),
            "raw_path": BATCH.format(module_id).encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", host),
                (b"content-type", b"application/json"),
                (b"authorization", client.headers["authorization"].encode()),
            ],
            "client": ("203.0.113.7", 50000),
            "server": ("127.0.0.1", 8080),
        }
        messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sent = False
        forever = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await forever.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            await messages.put(message)

        serving = asyncio.ensure_future(app(scope, receive, send))
        start = await asyncio.wait_for(messages.get(), GUARD)
        assert start["type"] == "http.response.start"
        assert start["status"] == 200
        received = b""
        while received.count(b"\n") < first:
            chunk = await asyncio.wait_for(messages.get(), GUARD)
            assert chunk["more_body"], "the answer ended early"
            received += chunk["body"]
        assert received.count(b"\n") == first
        assert not gate.is_set()
        assert started < size  # the last items have not even started
        gate.set()
        while True:
            chunk = await asyncio.wait_for(messages.get(), GUARD)
            received += chunk.get("body", b"")
            if not chunk.get("more_body", False):
                break
        await asyncio.wait_for(serving, GUARD)
        documents = [orjson.loads(line) for line in received.splitlines()]
        assert len(documents) == size
        assert sorted(d["index"] for d in documents) == list(range(size))
        assert all(d["results"] == [d["index"] + 1] for d in documents)


async def test_long_lists_stream_as_ndjson_when_asked(client, upload):
    """Accept: application/x-ndjson lists every module (every page) and every audit
    entry, one a line; without it, a page as before."""
    created = [await upload("sum") for _ in range(40)]  # more than one store chunk (32)
    ndjson = {"accept": "application/x-ndjson"}
    response = await client.get("/v1/modules", params={"limit": 5}, headers=ndjson)
    assert response.headers["content-type"] == "application/x-ndjson"
    listed = [orjson.loads(line)["id"] for line in response.content.splitlines()]
    assert sorted(listed) == sorted(module["id"] for module in created)
    paged = await client.get("/v1/modules", params={"limit": 5})
    assert len(paged.json()["items"]) == 5
    audit = await client.get("/v1/audit", params={"action": "module.create"}, headers=ndjson)
    entries = [orjson.loads(line) for line in audit.content.splitlines()]
    assert len(entries) == 40
    assert {entry["action"] for entry in entries} == {"module.create"}
