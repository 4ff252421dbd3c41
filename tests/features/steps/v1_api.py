"""Steps for the /v1 API."""

from __future__ import annotations

import json

from behave import then, when
from tests.fixtures import wasm

TIMEOUT = 30
WASM = {"content-type": "application/wasm"}


@when('uploading "{module}" to /v1 with function "{function}"')
def upload(context, module, function):
    context.response = context.http.post(
        f"{context.url}/v1/modules",
        data=wasm(module),
        params={"function": function},
        headers=WASM,
        timeout=TIMEOUT,
    )


@when('uploading raw bytes "{text}" to /v1')
def upload_raw(context, text):
    context.response = context.http.post(
        f"{context.url}/v1/modules", data=text.encode(), headers=WASM, timeout=TIMEOUT
    )


@then("the response has a Location and an ETag")
def check_headers(context):
    body = context.response.json()
    assert context.response.headers["Location"] == f"/v1/modules/{body['id']}"
    assert context.response.headers["ETag"] == f'"{body["digest"]}"'


@when('the ID is saved from the resource in "{alias}"')
@then('the ID is saved from the resource in "{alias}"')
def save_resource_id(context, alias):
    assert context.response.status_code == 201, context.response.text
    context.ids[alias] = context.response.json()["id"]


@when('running "{function}" of "{alias}" with args "{args}" on /v1')
def run(context, function, alias, args):
    context.response = context.http.post(
        f"{context.url}/v1/modules/{context.ids[alias]}/run",
        json={"function": function, "args": json.loads(args)},
        timeout=TIMEOUT,
    )


@when('running "{function}" of "{alias}" with limits \'{limits}\' on /v1')
def run_with_limits(context, function, alias, limits):
    context.response = context.http.post(
        f"{context.url}/v1/modules/{context.ids[alias]}/run",
        json={"function": function, "limits": json.loads(limits)},
        timeout=TIMEOUT,
    )


@then('the results are "{expected}"')
def check_results(context, expected):
    assert context.response.json()["results"] == json.loads(expected), context.response.text


@when('replacing "{alias}" with "{module:w}" on /v1')
def replace(context, alias, module):
    context.response = context.http.put(
        f"{context.url}/v1/modules/{context.ids[alias]}",
        data=wasm(module),
        headers=WASM,
        timeout=TIMEOUT,
    )


@when('replacing "{alias}" with "{module:w}" and function "{function:w}" on /v1')
def replace_naming(context, alias, module, function):
    context.response = context.http.put(
        f"{context.url}/v1/modules/{context.ids[alias]}",
        data=wasm(module),
        params={"function": function},
        headers=WASM,
        timeout=TIMEOUT,
    )


@then('the resource revision is "{revision}"')
def check_revision(context, revision):
    assert context.response.json()["revision"] == int(revision)


@when('deleting "{alias}" on /v1')
def delete(context, alias):
    context.response = context.http.delete(
        f"{context.url}/v1/modules/{context.ids[alias]}", timeout=TIMEOUT
    )


@when('reading "{alias}" on /v1')
def read(context, alias):
    context.response = context.http.get(
        f"{context.url}/v1/modules/{context.ids[alias]}", timeout=TIMEOUT
    )


@then('the response is a problem "{status}" "{code}"')
def check_problem(context, status, code):
    response = context.response
    assert response.status_code == int(status), response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    assert body["request_id"] == response.headers["x-request-id"]
