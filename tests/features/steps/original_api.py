"""Steps of the original Wess suite: plain `requests` calls with json.dumps bodies."""

from __future__ import annotations

import json
import time
import uuid

import requests
from behave import given, then, when
from tests.fixtures import wasm

TIMEOUT = 30


@given("the following WasmModules are available:")
def modules_available(context):
    context.wasm_modules = {}
    for row in context.table:
        context.wasm_modules[row["module"]] = {
            "wasm": list(wasm(row["module"])),
            "metadata": {
                "functionName": row["function"],
                "returnType": _names(row["returns"]),
                "args": _names(row["args"]),
            },
        }


def _names(cell: str) -> list[str]:
    inner = cell.strip().strip("[]")
    return [part.strip() for part in inner.split(",") if part.strip()]


@when('sending the wasm "{module}" to create a new WasmModule')
def create_module(context, module):
    context.response = requests.post(
        context.url, data=json.dumps(context.wasm_modules[module]), timeout=TIMEOUT
    )


@when('sending the wasm "{module}" to update the ID "{alias}"')
def update_module(context, module, alias):
    context.response = requests.put(
        f"{context.url}/{context.ids[alias]}",
        data=json.dumps(context.wasm_modules[module]),
        timeout=TIMEOUT,
    )


@when('sending the ID "{alias}" to delete')
def delete_module(context, alias):
    context.response = requests.delete(f"{context.url}/{context.ids[alias]}", timeout=TIMEOUT)


@when('reading the ID "{alias}"')
def read_module(context, alias):
    context.response = requests.get(f"{context.url}/{context.ids[alias]}", timeout=TIMEOUT)


@when('running the ID "{alias}" with args "{args}"')
def run_module(context, alias, args):
    context.response = requests.post(
        f"{context.url}/{context.ids[alias]}", data=args, timeout=TIMEOUT
    )


@when('sending "{method}" to "{path}" with body "{body}"')
def send_raw(context, method, path, body):
    context.response = requests.request(
        method, f"{context.url}{path}", data=body or None, timeout=TIMEOUT
    )


@when('sending "{method}" to "{path}" with body ""')
def send_raw_empty(context, method, path):
    send_raw(context, method, path, "")


@then('the response status code is "{status}"')
def check_status(context, status):
    result = context.response.status_code
    assert result == int(status), (
        f"the status should be {status} but was {result}: {context.response.text}"
    )


@then("the response body matches the default UUID")
def check_uuid(context):
    module_id = context.response.json()["message"]["id"]
    assert uuid.UUID(module_id).version == 4, module_id


@then('the ID is saved in "{alias}"')
def save_id(context, alias):
    context.ids[alias] = context.response.json()["message"]["id"]


@then('the message holds the wasm of "{module}"')
def check_wasm(context, module):
    assert bytes(context.response.json()["message"]["wasm"]) == wasm(module)


@then('the message is "{expected}"')
def check_message(context, expected):
    assert context.response.json() == {"message": json.loads(expected)}, context.response.text


@then("the body is a message")
def check_message_shape(context):
    body = context.response.json()
    assert set(body) == {"message"}, body
    assert isinstance(body["message"], str), body


@then('Wess must log the "{operation}" operation with the ID "{alias}"')
def check_log(context, operation, alias):
    wanted = f"{operation} {context.ids[alias]}"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in context.server.log().splitlines():
            if wanted in line:
                entry = json.loads(line)
                assert {"level", "timestamp", "logger", "event"} <= set(entry), entry
                return
        time.sleep(0.05)
    raise AssertionError(f"no log line contains {wanted!r}")
