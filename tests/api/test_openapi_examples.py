"""Every operation of /openapi.json has an example request and response, taken from a
real run of the app, and each example still has the shape the app answers.

``capture`` drives each operation through the real app (``open_client``) and records
what it sent and what it got; ``src/wess/api/examples.json`` holds the result, which
the app loads into its OpenAPI document. Regenerate it after changing an operation:

    UPDATE_OPENAPI_EXAMPLES=1 .venv/bin/python -m pytest tests/api/test_openapi_examples.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures import distinct_sum, wasm
from wess.api.examples import EXAMPLES_FILE, METHODS, load_examples, operation_key
from wess.security.crypto import generate_kek
from wess.testing import open_client, test_settings

EXAMPLES = Path(str(files("wess.api").joinpath(EXAMPLES_FILE)))
UPDATE = "UPDATE_OPENAPI_EXAMPLES"
TEXT_LINES = 12
"""How much of a text answer (the metrics page) an example keeps."""


class Recorder:
    """Sends requests by operation, and keeps one example of each."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.examples: dict[str, Any] = {}

    async def call(
        self,
        method: str,
        template: str,
        *,
        expect: int,
        path: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        json_body: Any = None,
        text_body: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """``text_body`` is (content type, text) of a body that is not JSON."""
        path = path or {}
        if text_body is not None:
            headers = {**(headers or {}), "content-type": text_body[0]}
        response = await self.client.request(
            method,
            template.format(**path),
            params=query,
            json=json_body,
            content=None if text_body is None else text_body[1].encode(),
            headers=headers,
        )
        assert response.status_code == expect, (method, template, response.text)
        example: dict[str, Any] = {"parameters": {**path, **(query or {})}}
        if json_body is not None:
            example["request"] = {"content_type": "application/json", "body": json_body}
        if text_body is not None:
            example["request"] = {"content_type": text_body[0], "body": text_body[1]}
        example["response"] = answer(response)
        self.examples[operation_key(method, template)] = example
        return response


def answer(response: httpx.Response) -> dict[str, Any]:
    """An answer as an example: its status, content type and body (JSON as JSON, text
    cut to its first lines, bytes described)."""
    kind = response.headers.get("content-type", "").split(";")[0] or None
    body: Any
    if not response.content:
        kind = body = None
    elif kind is not None and kind.endswith("ndjson"):  # one JSON document per line
        body = "\n".join(response.text.splitlines()[:TEXT_LINES])
    elif kind is not None and kind.endswith("json"):
        body = response.json()
    elif kind is not None and kind.startswith("text/"):
        body = "\n".join(response.text.splitlines()[:TEXT_LINES])
    else:
        body = f"({len(response.content)} bytes of {kind}, from {response.content[:8].hex()})"
    return {"status": str(response.status_code), "content_type": kind, "body": body}


def upload_document(module: bytes, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "content": base64.b64encode(module).decode(),
        "function": "sum",
        "signature": {"params": ["i32", "i32"], "results": ["i32"]},
    }


async def capture(tmp_path: Path) -> dict[str, Any]:
    """One example of every operation, from a run of the real app."""
    kek = tmp_path / "kek"
    kek.write_text(generate_kek())
    kek.chmod(0o600)
    settings = test_settings(  # RocksDB: backups copy a store on disk
        WESS_SECURITY_ENCRYPTION_KEY_FILE=str(kek),
        WESS_DATABASE_URL="",
        WESS_DB_PATH=str(tmp_path / "data"),
    )
    async with open_client(settings) as client:
        r = Recorder(client)
        await r.call("GET", "/healthz", expect=200)
        await r.call("GET", "/readyz", expect=200)
        key = await r.call(
            "POST",
            "/v1/keys",
            expect=201,
            json_body={"namespace": "team-a", "role": "invoker", "name": "ci-run"},
        )
        await r.call("GET", "/v1/keys", expect=200)
        created = await r.call(
            "POST", "/v1/modules", expect=201, json_body=upload_document(wasm("sum"), "adder")
        )
        module = {"module_id": created.json()["id"]}
        await r.call("GET", "/v1/modules", expect=200, query={"limit": "10"})
        await r.call("GET", "/v1/modules/{module_id}", expect=200, path=module)
        await r.call("GET", "/v1/modules/{module_id}/wasm", expect=200, path=module)
        await r.call(
            "POST",
            "/v1/modules/{module_id}/run",
            expect=200,
            path=module,
            json_body={"function": "sum", "args": [1, 2]},
        )
        await r.call(
            "POST",
            "/v1/modules/{module_id}/run:batch",
            expect=200,
            path=module,
            json_body={"function": "sum", "args": [[1, 2], [3, 4], [5]]},
        )
        accepted = await r.call(
            "POST",
            "/v1/modules/{module_id}/invocations",
            expect=202,
            path=module,
            json_body={"function": "sum", "args": [1, 2], "retry": {"attempts": 3, "on": ["trap"]}},
            headers={"idempotency-key": "order-42"},
        )
        invocation = {"invocation_id": accepted.json()["id"]}
        for _ in range(500):  # until it finished: the example shows a result
            read = await r.call(
                "GET", "/v1/invocations/{invocation_id}", expect=200, path=invocation
            )
            if read.json()["state"] == "succeeded":
                break
            await asyncio.sleep(0.01)
        kv_key = {"key": "greeting"}
        await r.call(
            "PUT",
            "/v1/kv/{key}",
            expect=204,
            path=kv_key,
            text_body=("application/octet-stream", "hello"),
        )
        await r.call("GET", "/v1/kv/{key}", expect=200, path=kv_key)
        await r.call("GET", "/v1/kv", expect=200, query={"prefix": "greet", "limit": "10"})
        await r.call("DELETE", "/v1/kv/{key}", expect=204, path=kv_key)
        replaced = await r.call(
            "PUT",
            "/v1/modules/{module_id}",
            expect=200,
            path=module,
            json_body=upload_document(distinct_sum(1), "adder"),
            headers={"if-match": created.headers["etag"]},
        )
        await r.call("GET", "/v1/modules/{module_id}/revisions", expect=200, path=module)
        prod = {**module, "alias": "prod"}
        await r.call(
            "PUT",
            "/v1/modules/{module_id}/aliases/{alias}",
            expect=200,
            path=prod,
            json_body={"weights": {"1": 90, "2": 10}},
        )
        await r.call("GET", "/v1/modules/{module_id}/aliases", expect=200, path=module)
        await r.call("GET", "/v1/modules/{module_id}/aliases/{alias}", expect=200, path=prod)
        await r.call("DELETE", "/v1/modules/{module_id}/aliases/{alias}", expect=204, path=prod)
        legacy_module = {
            "wasm": list(wasm("sum")),
            "metadata": {"functionName": "sum", "returnType": ["i32"], "args": ["i32", "i32"]},
        }
        legacy = await r.call("POST", "/", expect=202, json_body=legacy_module)
        original = {"module_id": legacy.json()["message"]["id"]}
        await r.call("GET", "/", expect=202)
        await r.call("GET", "/{module_id}", expect=202, path=original)
        await r.call("POST", "/{module_id}", expect=200, path=original, json_body=[2, 3])
        await r.call("PUT", "/{module_id}", expect=202, path=original, json_body=legacy_module)
        await r.call("DELETE", "/{module_id}", expect=202, path=original)
        await r.call(
            "DELETE",
            "/v1/modules/{module_id}",
            expect=204,
            path=module,
            headers={"if-match": replaced.headers["etag"]},
        )
        await r.call("POST", "/v1/admin/rotate-kek", expect=200)
        await r.call("GET", "/v1/admin/verify", expect=200)
        await r.call("GET", "/v1/audit", expect=200, query={"limit": "2"})
        await r.call("GET", "/v1/audit/verify", expect=200)
        await r.call("GET", "/v1/cluster/nodes", expect=200)
        dump = await r.call("GET", "/v1/admin/export", expect=200, query={"namespace": "team-a"})
        await r.call(
            "POST",
            "/v1/admin/import",
            expect=200,
            text_body=("application/x-ndjson", dump.text),
        )
        await r.call("POST", "/v1/admin/backups", expect=201)
        await r.call("GET", "/v1/admin/backups", expect=200)
        await r.call("DELETE", "/v1/keys/{key_id}", expect=204, path={"key_id": key.json()["id"]})
        await r.call("GET", "/metrics", expect=200)
        return r.examples


def write_examples(captured: dict[str, Any]) -> None:
    EXAMPLES.write_text(json.dumps(captured, indent=1, sort_keys=True) + "\n")
    load_examples.cache_clear()


def read_examples() -> dict[str, Any]:
    committed: dict[str, Any] = json.loads(EXAMPLES.read_text())
    return committed


def shape(value: Any) -> Any:
    """What an example must keep from one run to the next: its keys and value types."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


async def test_examples_are_what_the_app_answers(tmp_path: Path) -> None:
    """A fresh capture has the operations, statuses, content types and body shapes of
    the committed examples (set UPDATE_OPENAPI_EXAMPLES=1 to write it instead)."""
    captured = await capture(tmp_path)
    if os.environ.get(UPDATE) == "1":
        write_examples(captured)
    committed = read_examples()
    assert sorted(committed) == sorted(captured), f"run {UPDATE}=1 pytest {__file__}"
    for key, example in captured.items():
        assert shape(example) == shape(committed[key]), (key, f"run {UPDATE}=1")


async def test_every_operation_has_an_example_request_and_response() -> None:
    """In /openapi.json, each operation's success response shows an example (unless it
    has no body), each request body shows one, and path parameters have example values."""
    async with open_client() as client:
        document = (await client.get("/openapi.json")).json()
    missing = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            key = operation_key(method, path)
            example = load_examples().get(key)
            if example is None:
                missing.append(f"{key}: no example")
                continue
            response = operation["responses"].get(example["response"]["status"])
            if response is None:
                missing.append(f"{key}: status {example['response']['status']} undocumented")
            elif example["response"]["content_type"] is not None and not any(
                "example" in media for media in response.get("content", {}).values()
            ):
                missing.append(f"{key}: no response example")
            request = operation.get("requestBody", {}).get("content", {})
            if request and not any("example" in media for media in request.values()):
                missing.append(f"{key}: no request example")
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "path" and "example" not in parameter:
                    missing.append(f"{key}: no example of {parameter['name']}")
    assert missing == []


async def test_openapi_declares_the_bearer_scheme_and_public_operations() -> None:
    """Swagger UI's Authorize button needs the scheme: bearer, required everywhere
    but on the public operations (security: []) and the metrics (either)."""
    async with open_client() as client:
        document = (await client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert document["security"] == [{"bearer": []}]
    assert document["paths"]["/healthz"]["get"]["security"] == []
    assert document["paths"]["/readyz"]["get"]["security"] == []
    assert document["paths"]["/metrics"]["get"]["security"] == [{"bearer": []}, {}]
    assert "security" not in document["paths"]["/v1/modules"]["post"]  # the global one
