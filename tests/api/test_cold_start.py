"""Cold starts through the real app on RocksDB: artifacts, compile caps, usage, warm-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from tests.fixtures import wasm
from tests.fixtures.generated import slow_to_compile
from tests.support import raw_family
from wess.config import Settings
from wess.storage.rocks.layout import artifact_prefix, module_key
from wess.testing import assert_problem, open_client, test_settings

WASM = {"content-type": "application/wasm"}


def rocks_settings(path: Path, **env: str) -> Settings:
    return test_settings(WESS_DATABASE_URL="", WESS_DB_PATH=str(path), **env)


def sample(text: str, name: str) -> float:
    """The value of one exact series in a Prometheus text page (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def metrics(client: httpx.AsyncClient) -> tuple[float, dict[str, float]]:
    """Compiles so far, and artifact lookups by outcome."""
    text = (await client.get("/metrics")).text
    outcomes = ("hit", "miss", "rejected", "stale")
    artifacts = {o: sample(text, f'wess_artifacts_total{{outcome="{o}"}}') for o in outcomes}
    return sample(text, "wess_compile_duration_seconds_count"), artifacts


def stored_artifacts(path: Path, prefix: bytes) -> dict[bytes, bytes]:
    """Every artifact key under ``prefix`` and its value, read with the raw RocksDB API
    (read-only, so it works while a server holds the store open)."""
    with raw_family(path, "artifacts", read_only=True) as db:
        return {key: db[key] for key in db.keys(from_key=prefix) if key.startswith(prefix)}


def artifact_keys(path: Path, module_id: str) -> dict[bytes, bytes]:
    """Every artifact stored for ``module_id``."""
    return stored_artifacts(path, artifact_prefix(module_key(UUID(module_id))))


def flip_a_byte(path: Path, key: bytes) -> None:
    with raw_family(path, "artifacts") as db:
        data = bytearray(db[key])
        data[len(data) // 2] ^= 0x01
        db.put(key, bytes(data))


async def upload(client: httpx.AsyncClient, module: bytes) -> dict[str, Any]:
    response = await client.post("/v1/modules", content=module, headers=WASM)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


async def run(client: httpx.AsyncClient, module_id: str, args: list[int]) -> list[int]:
    response = await client.post(f"/v1/modules/{module_id}/run", json={"args": args})
    assert response.status_code == 200, response.text
    results: list[int] = response.json()["results"]
    return results


async def test_first_run_after_a_restart_loads_the_artifact(tmp_path: Path) -> None:
    """The artifact stored at upload serves the first run after a restart: a hit, and no
    compile at all in the restarted server."""
    settings = rocks_settings(tmp_path / "db", WESS_RUNNER_PREWARM="0")
    async with open_client(settings) as client:
        module = await upload(client, wasm("sum"))
    assert len(artifact_keys(tmp_path / "db", module["id"])) == 1
    async with open_client(settings) as client:
        assert await run(client, module["id"], [20, 22]) == [42]
        compiles, artifacts = await metrics(client)
        assert compiles == 0
        assert artifacts["hit"] == 1


async def test_tampered_artifact_is_rejected_and_replaced(tmp_path: Path) -> None:
    """A byte flipped in the stored artifact (behind Wess's back) fails its seal: the
    run still answers, from a fresh compile, and a sound artifact replaces it."""
    settings = rocks_settings(tmp_path / "db", WESS_RUNNER_PREWARM="0")
    async with open_client(settings) as client:
        module = await upload(client, wasm("sum"))
    ((key, original),) = artifact_keys(tmp_path / "db", module["id"]).items()
    flip_a_byte(tmp_path / "db", key)
    async with open_client(settings) as client:
        assert await run(client, module["id"], [1, 2]) == [3]
        compiles, artifacts = await metrics(client)
        assert (compiles, artifacts["rejected"], artifacts["hit"]) == (1, 1, 0)
    replaced = artifact_keys(tmp_path / "db", module["id"])[key]
    assert replaced[:8] == original[:8]
    async with open_client(settings) as client:
        assert await run(client, module["id"], [1, 2]) == [3]
        compiles, artifacts = await metrics(client)
        assert (compiles, artifacts["hit"]) == (0, 1)


async def test_engine_change_misses_and_recompiles(tmp_path: Path) -> None:
    """Another wasm stack size is another flavor: its first run misses and compiles,
    then keeps an artifact of its own."""
    settings = rocks_settings(tmp_path / "db", WESS_RUNNER_PREWARM="0")
    async with open_client(settings) as client:
        module = await upload(client, wasm("sum"))
    changed = rocks_settings(
        tmp_path / "db", WESS_RUNNER_PREWARM="0", WESS_LIMITS_MAX_STACK=str(256 << 10)
    )
    async with open_client(changed) as client:
        assert await run(client, module["id"], [1, 2]) == [3]
        compiles, artifacts = await metrics(client)
        assert (compiles, artifacts["miss"]) == (1, 1)
    assert len(artifact_keys(tmp_path / "db", module["id"])) == 2


async def test_put_and_delete_remove_the_artifacts_with_the_module(tmp_path: Path) -> None:
    """Artifacts are kept per retained revision: new bytes keep the old revision's
    artifact while it is retained, and the update that prunes it drops it in the same
    commit; a delete leaves none."""
    path = tmp_path / "db"
    settings = rocks_settings(path, WESS_RUNNER_PREWARM="0", WESS_MODULES_REVISIONS_KEPT="2")
    async with open_client(settings) as client:
        module = await upload(client, wasm("sum"))
        (old_key,) = artifact_keys(path, module["id"])
        kept = await client.put(f"/v1/modules/{module['id']}", content=wasm("clock"), headers=WASM)
        assert kept.status_code == 200, kept.text
        assert len(artifact_keys(path, module["id"])) == 2
        assert old_key in artifact_keys(path, module["id"])
        replaced = await client.put(
            f"/v1/modules/{module['id']}", content=wasm("numbers"), headers=WASM
        )
        assert replaced.status_code == 200, replaced.text
        keys = artifact_keys(path, module["id"])
        assert old_key not in keys  # revision 1 pruned: its artifact went with it
        assert [replaced.json()["digest"].encode() in key for key in keys].count(True) == 1
        deleted = await client.delete(f"/v1/modules/{module['id']}")
        assert deleted.status_code == 204
        assert stored_artifacts(path, b"") == {}


async def test_compile_over_the_cpu_cap_is_422_and_the_server_keeps_serving() -> None:
    """An upload that takes more CPU to compile than limits.compile_cpu_seconds is
    refused with 422 compile_limit_exceeded; the next uploads and runs work."""
    settings = test_settings(WESS_LIMITS_COMPILE_CPU_SECONDS="1")
    async with open_client(settings) as client:
        refused = await client.post("/v1/modules", content=slow_to_compile(), headers=WASM)
        body = assert_problem(refused, 422, "compile_limit_exceeded")
        assert body["resource"] == "cpu_seconds"
        module = await upload(client, wasm("sum"))
        assert await run(client, module["id"], [2, 2]) == [4]
        assert (await client.get("/readyz")).status_code == 200


async def test_compile_over_the_memory_cap_is_422_and_the_server_keeps_serving() -> None:
    """An upload whose compile needs more memory than limits.compile_memory is refused
    with 422 compile_limit_exceeded; the server goes on serving."""
    settings = test_settings(WESS_LIMITS_COMPILE_MEMORY=str(32 << 20))
    async with open_client(settings) as client:
        refused = await client.post("/v1/modules", content=slow_to_compile(), headers=WASM)
        body = assert_problem(refused, 422, "compile_limit_exceeded")
        assert body["resource"] == "memory"
        module = await upload(client, wasm("sum"))
        assert await run(client, module["id"], [3, 3]) == [6]


async def test_validation_errors_are_unchanged_by_the_isolated_compile(
    client: httpx.AsyncClient,
) -> None:
    """Invalid wasm and unknown imports are still 422 invalid_wasm / unknown_import."""
    invalid = await client.post("/v1/modules", content=b"\x00asm\x01\x00\x00\x00\xff", headers=WASM)
    assert_problem(invalid, 422, "invalid_wasm")
    imported = await client.post("/v1/modules", content=wasm("bad_import"), headers=WASM)
    assert_problem(imported, 422, "unknown_import")


async def test_usage_survives_a_restart_and_warms_the_top_modules(tmp_path: Path) -> None:
    """Run counts are stored at shutdown; the next start loads the artifacts of the
    runner.prewarm most-used modules, and /readyz reports the warm-up."""
    settings = rocks_settings(tmp_path / "db", WESS_RUNNER_PREWARM="2")
    async with open_client(settings) as client:
        busy = await upload(client, wasm("sum"))
        calm = await upload(client, wasm("numbers"))
        idle = await upload(client, wasm("counter"))
        for _ in range(3):
            await run(client, busy["id"], [1, 1])
        for _ in range(2):
            calm_run = {"function": "id_i32", "args": [7]}
            response = await client.post(f"/v1/modules/{calm['id']}/run", json=calm_run)
            assert response.json()["results"] == [7]
        assert (await client.post(f"/v1/modules/{idle['id']}/run", json={"args": []})).is_success
    async with open_client(settings) as client:
        state = client.state  # type: ignore[attr-defined]
        assert await state.warmup.wait() == {"state": "done", "loaded": 2, "skipped": 0, "total": 2}
        ready = (await client.get("/readyz")).json()
        assert ready["status"] == "ready"
        assert ready["warmup"] == {"state": "done", "loaded": 2, "skipped": 0, "total": 2}
        compiles, artifacts = await metrics(client)
        assert (compiles, artifacts["hit"]) == (0, 2)
        assert await run(client, busy["id"], [5, 5]) == [10]
        assert (await metrics(client))[1]["hit"] == 2  # already compiled: no lookup at all
