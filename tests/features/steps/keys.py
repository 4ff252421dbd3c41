"""Steps for the key lifecycle: several callers, each with its own key."""

from __future__ import annotations

import json

import requests
from behave import then, when
from tests.fixtures import wasm

TIMEOUT = 30


def as_(context, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {context.tokens[name]}"}


@when('the admin creates a "{role}" key for namespace "{namespace}" as "{name}"')
def create_key(context, role, namespace, name):
    context.response = context.http.post(
        f"{context.url}/v1/keys",
        json={"namespace": namespace, "role": role, "name": name},
        timeout=TIMEOUT,
    )
    if context.response.status_code == 201:
        body = context.response.json()
        context.tokens[name] = body["token"]
        context.ids[f"key:{name}"] = body["id"]


@then("the key's token is in the answer, and its hash is not")
def token_once(context):
    body = context.response.json()
    assert body["token"].startswith("wess_"), body
    assert "hash" not in body
    listed = context.http.get(f"{context.url}/v1/keys", timeout=TIMEOUT).json()["items"]
    assert all("token" not in item and "hash" not in item for item in listed)


@when('"{name}" uploads "{module}" to /v1 as "{alias}"')
def upload_as(context, name, module, alias):
    context.response = requests.post(
        f"{context.url}/v1/modules",
        data=wasm(module),
        params={"function": "sum"},
        headers={**as_(context, name), "content-type": "application/wasm"},
        timeout=TIMEOUT,
    )
    if context.response.status_code == 201:
        context.ids[alias] = context.response.json()["id"]


@then('the module "{alias}" is in namespace "{namespace}"')
def in_namespace(context, alias, namespace):
    assert context.response.json()["namespace"] == namespace


@when('"{name}" runs "{function}" of "{alias}" with args "{args}"')
def run_as(context, name, function, alias, args):
    context.response = requests.post(
        f"{context.url}/v1/modules/{context.ids[alias]}/run",
        json={"function": function, "args": json.loads(args)},
        headers=as_(context, name),
        timeout=TIMEOUT,
    )


@when('"{name}" reads the module "{alias}"')
def read_as(context, name, alias):
    context.response = requests.get(
        f"{context.url}/v1/modules/{context.ids[alias]}",
        headers=as_(context, name),
        timeout=TIMEOUT,
    )


@when('"{name}" lists the keys')
def list_as(context, name):
    context.response = requests.get(
        f"{context.url}/v1/keys", headers=as_(context, name), timeout=TIMEOUT
    )


@when('the admin revokes the key "{name}"')
def revoke(context, name):
    context.response = context.http.delete(
        f"{context.url}/v1/keys/{context.ids[f'key:{name}']}", timeout=TIMEOUT
    )


@when("the admin sends its key in the query string")
def key_in_query(context):
    context.response = requests.get(
        f"{context.url}/v1/modules", params={"api_key": context.server.token}, timeout=TIMEOUT
    )


@when("the admin reads the whole audit log")
def read_audit(context):
    entries, after = [], 0
    while True:
        page = context.http.get(
            f"{context.url}/v1/audit", params={"after": after, "limit": 1000}, timeout=TIMEOUT
        ).json()
        entries += page["items"]
        if page["next_cursor"] is None:
            break
        after = int(page["next_cursor"])
    context.audit = entries


@then('it holds entries for "{first}", "{second}" and "{third}"')
def holds(context, first, second, third):
    actions = {entry["action"] for entry in context.audit}
    assert {first, second, third} <= actions, actions


@then('the refused upload is there with outcome "{outcome}"')
def refused_upload(context, outcome):
    assert any(e["action"] == "module.create" and e["outcome"] == outcome for e in context.audit), (
        context.audit
    )


@then("the hash chain verifies")
def chain_verifies(context):
    report = context.http.get(f"{context.url}/v1/audit/verify", timeout=TIMEOUT).json()
    assert report["ok"], report
    assert report["checked"] == len(context.audit)
    assert report["head"]["seq"] == context.audit[-1]["seq"]
