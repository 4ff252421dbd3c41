"""Names, revisions and aliases through /v1: a module addressed by its name, every
update a revision that stays runnable until pruned, aliases moved for a rollback, and a
weighted alias splitting calls 90/10 (deterministic under ``modules.alias_seed``)."""

from __future__ import annotations

import asyncio
import math
import random
import secrets
from collections import Counter
from typing import Any

import httpx
import pytest
import wasmtime

from tests.fixtures import wasm
from tests.support import postgres_schema
from wess.models import AliasTarget
from wess.testing import assert_problem, open_client, test_settings
from wess.workers.resolving import weighted

WASM = {"content-type": "application/wasm"}
SEED = 20261201


def version(number: int) -> bytes:
    """A module whose ``version()`` answers ``number``: tells revisions apart."""
    return bytes(
        wasmtime.wat2wasm(f'(module (func (export "version") (result i32) i32.const {number}))')
    )


async def upload(client: httpx.AsyncClient, body: bytes, **params: str) -> dict[str, Any]:
    response = await client.post("/v1/modules", content=body, params=params, headers=WASM)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


async def replace(client: httpx.AsyncClient, target: str, body: bytes) -> dict[str, Any]:
    response = await client.put(f"/v1/modules/{target}", content=body, headers=WASM)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def run(client: httpx.AsyncClient, target: str, **query: str) -> tuple[int, int]:
    """(what ``version()`` answered, the revision the response names)."""
    response = await client.post(f"/v1/modules/{target}/run", params=query, json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["wess-revision"] == str(body["revision"])
    return body["results"][0], body["revision"]


async def test_a_name_addresses_its_module_wherever_an_id_does(client: httpx.AsyncClient) -> None:
    """Run, read, download, replace and delete by name; the Location stays the id."""
    module = await upload(client, version(1), name="adder")
    assert (await client.get("/v1/modules/adder")).json()["id"] == module["id"]
    assert await run(client, "adder") == (1, 1)
    download = await client.get("/v1/modules/adder/wasm")
    assert download.content == version(1)
    replaced = await replace(client, "adder", version(2))
    assert (replaced["id"], replaced["revision"]) == (module["id"], 2)
    assert await run(client, "adder") == (2, 2)
    assert (await client.delete("/v1/modules/adder")).status_code == 204
    assert_problem(await client.get("/v1/modules/adder"), 404, "module_not_found")
    again = await upload(client, version(3), name="adder")  # the name is free again
    assert again["id"] != module["id"]


async def test_a_taken_name_is_a_conflict_and_a_uuid_is_no_name(client: httpx.AsyncClient) -> None:
    """Creating (or renaming to) a name another module of the namespace has is 409
    name_taken, naming the holder; a name that spells a UUID is refused (ids and names
    share the paths); a module without a name is addressed by its id only."""
    held = await upload(client, version(1), name="adder")
    taken = await client.post(
        "/v1/modules", content=version(2), params={"name": "adder"}, headers=WASM
    )
    body = assert_problem(taken, 409, "name_taken")
    assert held["id"] in body["detail"]
    other = await upload(client, version(2), name="other")
    renamed = await client.put(
        f"/v1/modules/{other['id']}", content=version(3), params={"name": "adder"}, headers=WASM
    )
    assert_problem(renamed, 409, "name_taken")
    for spelled in ("0123456789abcdef0123456789abcdef", "{12345678-1234-1234-1234-123456789abc}"):
        refused = await client.post(
            "/v1/modules", content=version(1), params={"name": spelled}, headers=WASM
        )
        assert_problem(refused, 400, "invalid_request")
    unnamed = await upload(client, version(4))
    assert unnamed["name"] == unnamed["id"]
    assert_problem(await client.get("/v1/modules/nobody"), 404, "module_not_found")
    upper = unnamed["id"].upper()
    assert_problem(await client.get(f"/v1/modules/{upper}"), 400, "invalid_module_id")


async def test_every_update_is_a_revision_runnable_until_pruned() -> None:
    """Revisions are listed oldest first a page at a time; an old one runs with
    ?revision=; past modules.revisions_kept the oldest is pruned (404
    revision_not_found), unless an alias points at it."""
    settings = test_settings(WESS_MODULES_REVISIONS_KEPT="3")
    async with open_client(settings) as client:
        module = await upload(client, version(1), name="v")
        for number in (2, 3):
            await replace(client, "v", version(number))
        listed = (await client.get("/v1/modules/v/revisions")).json()
        assert [(r["revision"], r["current"]) for r in listed["items"]] == [
            (1, False),
            (2, False),
            (3, True),
        ]
        assert listed["next_cursor"] is None
        first = (await client.get("/v1/modules/v/revisions", params={"limit": 2})).json()
        rest = await client.get(
            "/v1/modules/v/revisions", params={"limit": 2, "cursor": first["next_cursor"]}
        )
        assert [r["revision"] for r in first["items"] + rest.json()["items"]] == [1, 2, 3]
        assert await run(client, "v", revision="1") == (1, 1)
        assert await run(client, module["id"], revision="2") == (2, 2)
        old = await client.get("/v1/modules/v/wasm", params={"revision": "1"})
        assert old.content == version(1)
        pinned = await client.put("/v1/modules/v/aliases/stable", json={"revision": 2})
        assert pinned.status_code == 200, pinned.text
        await replace(client, "v", version(4))
        await replace(client, "v", version(5))
        listed = (await client.get("/v1/modules/v/revisions")).json()
        assert [(r["revision"], r["aliases"]) for r in listed["items"]] == [
            (2, ["stable"]),
            (3, []),
            (4, []),
            (5, []),
        ]
        pruned = await client.post("/v1/modules/v/run", params={"revision": "1"}, json={})
        assert_problem(pruned, 404, "revision_not_found")
        assert await run(client, "v", alias="stable") == (2, 2)


async def test_rollback_is_moving_an_alias(client: httpx.AsyncClient) -> None:
    """prod points at revision 2; revision 3 ships and prod moves to it; the rollback
    moves prod back to 2. Runs of ?alias=prod follow each move at once."""
    await upload(client, version(1), name="app")
    await replace(client, "app", version(2))
    created = await client.put("/v1/modules/app/aliases/prod", json={"revision": 2})
    assert created.json() == {"revision": 2}
    await replace(client, "app", version(3))
    assert await run(client, "app", alias="prod") == (2, 2)
    assert await run(client, "app") == (3, 3)
    await client.put("/v1/modules/app/aliases/prod", json={"revision": 3})
    assert await run(client, "app", alias="prod") == (3, 3)
    rolled_back = await client.put("/v1/modules/app/aliases/prod", json={"revision": 2})
    assert rolled_back.status_code == 200
    assert await run(client, "app", alias="prod") == (2, 2)
    assert (await client.get("/v1/modules/app/aliases/prod")).json() == {"revision": 2}
    assert (await client.get("/v1/modules/app")).json()["aliases"] == {"prod": {"revision": 2}}
    assert (await client.get("/v1/modules/app/aliases")).json() == {
        "aliases": {"prod": {"revision": 2}}
    }
    missing = await client.put("/v1/modules/app/aliases/prod", json={"revision": 9})
    assert_problem(missing, 404, "revision_not_found")
    assert (await client.delete("/v1/modules/app/aliases/prod")).status_code == 204
    gone = await client.post("/v1/modules/app/run", params={"alias": "prod"}, json={})
    assert_problem(gone, 404, "alias_not_found")
    assert_problem(await client.delete("/v1/modules/app/aliases/prod"), 404, "alias_not_found")
    for body in ({"revision": 0}, {"weights": {}}, {"weights": {"2": 0}}, {"revison": 2}, [2]):
        refused = await client.put("/v1/modules/app/aliases/prod", json=body)
        assert_problem(refused, 400, "invalid_request")
    both = await client.post("/v1/modules/app/run", params={"alias": "a", "revision": "1"}, json={})
    assert_problem(both, 400, "invalid_request")


async def test_a_weighted_alias_splits_calls_90_10_deterministically() -> None:
    """A canary: 90 % of ?alias=canary runs take revision 1, 10 % revision 2, each
    response naming the one it ran. Under a seed the draws are the seeded generator's
    exactly, and their count of revision 2 lies within 4.5 standard deviations of 100
    (binomial, n = 1000, p = 0.1)."""
    settings = test_settings(
        WESS_MODULES_ALIAS_SEED=str(SEED), WESS_RATELIMIT_PER_IP="100000/minute"
    )
    async with open_client(settings) as client:
        await upload(client, version(1), name="canaried")
        await replace(client, "canaried", version(2))
        split = await client.put(
            "/v1/modules/canaried/aliases/canary", json={"weights": {"1": 90, "2": 10}}
        )
        assert split.json() == {"weights": {"1": 90, "2": 10}}
        runs = 1000
        seen: list[int] = []
        for _ in range(runs):
            answered, revision = await run(client, "canaried", alias="canary")
            assert answered == revision
            seen.append(revision)
    replayed = random.Random(SEED)
    targets = (AliasTarget(1, 90), AliasTarget(2, 10))
    assert seen == [weighted(targets, replayed) for _ in range(runs)]
    counts = Counter(seen)
    expected, sd = runs * 0.1, math.sqrt(runs * 0.1 * 0.9)
    assert abs(counts[2] - expected) <= 4.5 * sd, counts
    assert counts[1] + counts[2] == runs


async def test_the_original_api_addresses_modules_by_id_only(client: httpx.AsyncClient) -> None:
    """The original routes keep their contract: ids, no names (the original Wess had
    none), and its modules are unnamed, so they never clash."""
    await upload(client, version(1), name="adder")
    legacy_run = await client.post("/adder", json=[])
    assert legacy_run.status_code == 400
    created = [
        await client.post(
            "/",
            json={
                "wasm": list(wasm("sum")),
                "metadata": {"functionName": "sum", "args": ["I32", "I32"], "returnType": ["I32"]},
            },
        )
        for _ in range(2)
    ]
    assert [response.status_code for response in created] == [202, 202]


async def test_an_alias_move_reaches_every_node_sharing_the_store() -> None:
    """Two nodes on one PostgreSQL store: node B has run ?alias=prod (and cached the
    module); node A moves the alias; B's next runs follow once the change event
    arrives (within a guard of 10 s), never a stale alias for long."""
    with postgres_schema(f"t_{secrets.token_hex(6)}") as url:
        settings = test_settings(WESS_DATABASE_URL=url)
        async with open_client(settings) as a, open_client(settings) as b:
            await upload(a, version(1), name="shared")
            await replace(a, "shared", version(2))
            await a.put("/v1/modules/shared/aliases/prod", json={"revision": 2})
            assert await run(b, "shared", alias="prod") == (2, 2)
            await a.put("/v1/modules/shared/aliases/prod", json={"revision": 1})
            for _ in range(500):
                if await run(b, "shared", alias="prod") == (1, 1):
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("node B still runs the alias's old revision")
            renamed = await b.put(
                "/v1/modules/shared", content=version(3), params={"name": "moved"}, headers=WASM
            )
            assert renamed.status_code == 200, renamed.text
            for _ in range(500):
                if (await a.get("/v1/modules/shared")).status_code == 404:
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("node A still resolves the old name")
            assert await run(a, "moved") == (3, 3)


async def test_an_export_carries_revisions_and_aliases_to_another_store() -> None:
    """Exported from one server and imported into another, a module keeps its retained
    revisions (their bytes) and its aliases: the same runs answer the same."""
    async with open_client(test_settings()) as source:
        await upload(source, version(1), name="moved")
        await replace(source, "moved", version(2))
        await replace(source, "moved", version(3))
        await source.put("/v1/modules/moved/aliases/prod", json={"weights": {"1": 1, "2": 1}})
        dump = await source.get("/v1/admin/export")
        assert dump.status_code == 200
        assert dump.text.count('"type":"revision"') == 2
        listed = (await source.get("/v1/modules/moved/revisions")).json()
    async with open_client(test_settings()) as target:
        imported = await target.post(
            "/v1/admin/import", content=dump.text, headers={"content-type": "application/x-ndjson"}
        )
        assert imported.status_code == 200, imported.text
        assert (await target.get("/v1/modules/moved/revisions")).json() == listed
        assert await run(target, "moved", revision="1") == (1, 1)
        assert await run(target, "moved") == (3, 3)
        alias = await target.get("/v1/modules/moved/aliases/prod")
        assert alias.json() == {"weights": {"1": 1, "2": 1}}
