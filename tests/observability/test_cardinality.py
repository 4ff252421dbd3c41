"""Label cardinality is bounded: a thousand module ids make no more series than ten.

Module ids, paths and function names come from users; Wess's labels are route
templates and bounded codes, and only the modules of ``metrics.per_module`` get series
of their own. The series are counted on the real ``/metrics`` page.
"""

from __future__ import annotations

import random
import uuid

from tests.fixtures import distinct_sum, wasm
from wess.testing import Scrape, open_client, test_settings

WASM = {"content-type": "application/wasm"}
UNLIMITED = {"WESS_RATELIMIT_PER_IP": "1000000/minute", "WESS_RATELIMIT_PER_KEY": "1000000/minute"}


async def visit(client, module_ids: list[str]) -> None:
    """Read, run, and run through the original API, each id; the ids name no module."""
    for module_id in module_ids:
        assert (await client.get(f"/v1/modules/{module_id}")).status_code == 404
        ran = await client.post(f"/v1/modules/{module_id}/run", json={"args": [1, 2]})
        assert ran.status_code == 404
        assert (await client.post(f"/{module_id}", content=b"[1]")).status_code == 404
        assert (await client.get(f"/v1/modules/{module_id}/wasm")).status_code == 404


async def test_a_thousand_module_ids_make_no_more_series_than_ten() -> None:
    """After ten unknown ids and runs of ten real modules, the page holds N series; after
    a thousand unknown ids and a hundred real modules more, still exactly N."""
    seeded = random.Random(10)
    ids = [str(uuid.UUID(int=seeded.getrandbits(128), version=4)) for _ in range(1000)]
    async with open_client(test_settings(**UNLIMITED)) as client:

        async def run_new_modules(first: int, count: int) -> None:
            for seed in range(first, first + count):
                body = distinct_sum(seed)
                created = await client.post("/v1/modules", content=body, headers=WASM)
                ran = await client.post(
                    f"/v1/modules/{created.json()['id']}/run", json={"args": [seed, 1]}
                )
                assert ran.json()["results"] == [seed + 1]

        await client.get("/metrics")  # the scrape itself is a route with its series
        await visit(client, ids[:10])
        await run_new_modules(0, 10)
        before = Scrape((await client.get("/metrics")).text)
        await visit(client, ids[10:])
        await run_new_modules(10, 100)
        after = Scrape((await client.get("/metrics")).text)
    assert after.series == before.series
    assert not any(module_id in after.text for module_id in ids)


async def test_listed_modules_get_series_of_their_own() -> None:
    """A module on metrics.per_module (by name or by id) has series by module and
    function; every other module's calls are counted together as `other`."""
    async with open_client(test_settings(WESS_METRICS_PER_MODULE="adder")) as client:
        listed = await client.post(
            "/v1/modules", content=wasm("sum"), params={"name": "adder"}, headers=WASM
        )
        other = await client.post("/v1/modules", content=distinct_sum(1), headers=WASM)
        for created in (listed, other, other):
            ran = await client.post(
                f"/v1/modules/{created.json()['id']}/run", json={"args": [1, 2]}
            )
            assert ran.status_code == 200
        scrape = Scrape((await client.get("/metrics")).text)
    count = "wess_module_execution_duration_seconds_count"
    assert scrape.value(count, module="adder", function="sum", outcome="ok") == 1
    assert {s.labels["module"] for s in scrape.samples(count)} == {"adder"}
    original = "wess_wasm_execution_time_seconds_count"
    assert scrape.value(original, function_name="sum") == 1
    assert scrape.value(original, function_name="other") == 2
    assert scrape.value("wess_execution_duration_seconds_count", outcome="ok") == 3
    assert other.json()["id"] not in scrape.text


async def test_a_module_can_be_listed_by_id(tmp_path) -> None:
    """An id on metrics.per_module labels that module's calls with the id."""
    stored = {"WESS_DATABASE_URL": "", "WESS_DB_PATH": str(tmp_path / "db")}
    async with open_client(test_settings(**stored)) as client:
        created = await client.post("/v1/modules", content=wasm("sum"), headers=WASM)
        module_id = created.json()["id"]
    listing = test_settings(**stored, WESS_METRICS_PER_MODULE=module_id)
    async with open_client(listing) as client:
        ran = await client.post(f"/v1/modules/{module_id}/run", json={"args": [1, 2]})
        assert ran.status_code == 200
        scrape = Scrape((await client.get("/metrics")).text)
    count = "wess_module_execution_duration_seconds_count"
    assert scrape.value(count, module=module_id, function="sum", outcome="ok") == 1
