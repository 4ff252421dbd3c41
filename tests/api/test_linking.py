"""Linking modules through /v1: a module imports another stored module's functions by
name (``wess:module/<name>``) or alias (``wess:module/<name>@<alias>``), resolved at
each call in its namespace, under the caller's limits; missing targets and cycles are
refused with ``link_error``."""

from __future__ import annotations

from typing import Any

import httpx
import wasmtime

from wess.testing import assert_problem

WASM = {"content-type": "application/wasm"}


def wat(source: str) -> bytes:
    return bytes(wasmtime.wat2wasm(source))


def times(factor: int) -> bytes:
    """``scale(x) = x * factor``."""
    return wat(
        f'(module (func (export "scale") (param i32) (result i32) '
        f"local.get 0 i32.const {factor} i32.mul))"
    )


def twice(ref: str) -> bytes:
    """``twice(x) = scale(scale(x))``, ``scale`` imported from the module ``ref`` names."""
    return wat(
        f'(module (import "wess:module/{ref}" "scale" (func $s (param i32) (result i32))) '
        '(func (export "twice") (param i32) (result i32) local.get 0 call $s call $s))'
    )


def calling(ref: str) -> bytes:
    """``f()`` calls ``f`` of the module ``ref`` names."""
    return wat(f'(module (import "wess:module/{ref}" "f" (func $f)) (func (export "f") call $f))')


async def upload(client: httpx.AsyncClient, body: bytes, name: str) -> httpx.Response:
    return await client.post("/v1/modules", content=body, params={"name": name}, headers=WASM)


async def created(client: httpx.AsyncClient, body: bytes, name: str) -> dict[str, Any]:
    response = await upload(client, body, name)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


async def run(client: httpx.AsyncClient, target: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/v1/modules/{target}/run", json=body)


async def test_a_module_calls_another_by_name_and_follows_its_updates(
    client: httpx.AsyncClient,
) -> None:
    """twice(5) through lib's scale: 20 while lib doubles; lib updated to triple, the
    next call is 45 (the link resolves at each call)."""
    await created(client, times(2), "lib")
    await created(client, twice("lib"), "app")
    first = await run(client, "app", {"function": "twice", "args": [5]})
    assert first.json()["results"] == [20], first.text
    replaced = await client.put("/v1/modules/lib", content=times(3), headers=WASM)
    assert replaced.status_code == 200
    assert (await run(client, "app", {"function": "twice", "args": [5]})).json()["results"] == [45]


async def test_a_link_through_an_alias_stays_on_its_revision(client: httpx.AsyncClient) -> None:
    """wess:module/lib@stable runs the revision stable names, whatever lib's current."""
    await created(client, times(2), "lib")
    await client.put("/v1/modules/lib", content=times(3), headers=WASM)
    await client.put("/v1/modules/lib/aliases/stable", json={"revision": 1})
    await created(client, twice("lib@stable"), "pinned")
    result = await run(client, "pinned", {"function": "twice", "args": [5]})
    assert result.json()["results"] == [20], result.text
    await client.put("/v1/modules/lib/aliases/stable", json={"revision": 2})
    moved = await run(client, "pinned", {"function": "twice", "args": [5]})
    assert moved.json()["results"] == [45]


async def test_the_callers_limits_cover_the_linked_module(client: httpx.AsyncClient) -> None:
    """A linked function that loops forever runs on the caller's fuel: the caller's
    call ends out of fuel (422 trap), not the server."""
    spinner = wat('(module (func (export "f") (loop br 0)))')
    await created(client, spinner, "spinner")
    await created(client, calling("spinner"), "caller")
    body = assert_problem(
        await run(client, "caller", {"function": "f", "limits": {"fuel": 100000}}), 422, "trap"
    )
    assert body["kind"] == "out_of_fuel"


async def test_missing_targets_functions_and_cycles_are_link_errors(
    client: httpx.AsyncClient,
) -> None:
    """Uploading a module that links a module (or alias) its namespace lacks, or
    itself, is 422 link_error; so is a call once a link lacks the imported function or
    a chain of links leads back to the caller."""
    missing = assert_problem(await upload(client, twice("nobody"), "app"), 422, "link_error")
    assert "wess:module/nobody" in missing["detail"]
    await created(client, times(2), "lib")
    assert_problem(await upload(client, twice("lib@prod"), "app"), 422, "link_error")
    assert_problem(await upload(client, calling("self"), "self"), 422, "link_error")
    await created(client, calling("lib"), "lacking")
    lacking = assert_problem(await run(client, "lacking", {"function": "f"}), 422, "link_error")
    assert "does not export" in lacking["detail"]
    await created(client, wat('(module (func (export "f") nop))'), "a")
    await created(client, calling("a"), "b")
    cycled = await client.put("/v1/modules/a", content=calling("b"), headers=WASM)
    assert cycled.status_code == 200, cycled.text
    cycle = assert_problem(await run(client, "a", {"function": "f"}), 422, "link_error")
    assert "cycles are refused" in cycle["detail"]
