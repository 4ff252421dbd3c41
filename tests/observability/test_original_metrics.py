"""The original Wess's metric names, through the real app: every one is exported, with
its label set, and means what it meant (the histogram buckets are Wess's own)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx

from tests.fixtures import wasm
from wess.api.app import create_app
from wess.api.state import ApiState
from wess.observability.health import HealthCheck
from wess.server.serving import site_policy
from wess.testing import Scrape, open_client, test_settings

WASM = {"content-type": "application/wasm"}
ORIGINAL = {
    # family (as the parser names it) -> (type, label names)
    "wess_http_requests": ("counter", {"path"}),
    "wess_http_request_latency_seconds": ("histogram", set()),
    "wess_error_count": ("counter", set()),
    "wess_database_operations": ("counter", {"operation"}),
    "wess_database_operation_duration_seconds": ("histogram", {"operation"}),
    "wess_cpu_usage": ("gauge", set()),
    "wess_memory_usage": ("gauge", set()),
    "wess_database_size_bytes": ("gauge", set()),
    "wess_wasm_compile_time_seconds": ("histogram", {"wasm_module"}),
    "wess_wasm_execution_time_seconds": ("histogram", {"function_name"}),
    "wess_concurrent_connections": ("gauge", set()),
    "wess_reader_channel_queue": ("gauge", set()),
    "wess_writer_channel_queue": ("gauge", set()),
    "wess_runner_channel_queue": ("gauge", set()),
}
"""The original's families (its src/metrics/constants.rs), by type and labels."""


async def traffic(client) -> Scrape:
    """Create, read, run (ok and trapping) and miss; then scrape."""
    created = await client.post("/v1/modules", content=wasm("sum"), headers=WASM)
    module_id = created.json()["id"]
    traps = (await client.post("/v1/modules", content=wasm("traps"), headers=WASM)).json()["id"]
    assert (await client.get(f"/v1/modules/{module_id}")).status_code == 200
    assert (await client.post(f"/v1/modules/{module_id}/run", json={"args": [1, 2]})).is_success
    assert (await client.post(f"/{module_id}", content=b"[1, 2]")).json() == {"message": [3]}
    trapped = await client.post(f"/v1/modules/{traps}/run", json={"function": "unreachable"})
    assert trapped.status_code == 422
    misspelt = "ABCDEF00-0000-4000-8000-000000000000"  # a UUID in capitals: no id, no name
    assert (await client.get(f"/v1/modules/{misspelt}")).status_code == 400
    return Scrape((await client.get("/metrics")).text)


async def test_every_original_name_is_exported_with_its_labels(tmp_path: Path) -> None:
    """Each of the original's fourteen families is on /metrics with its type and label
    names, and holds samples after traffic (RocksDB, so the database has a size)."""
    settings = test_settings(WESS_DATABASE_URL="", WESS_DB_PATH=str(tmp_path / "db"))
    async with open_client(settings) as client:
        scrape = await traffic(client)
    for family, (kind, labels) in ORIGINAL.items():
        assert family in scrape.families, family
        assert scrape.families[family].type == kind, family
        assert scrape.families[family].samples, family
        assert labels <= scrape.label_names(family), family
    assert scrape.label_names("wess_http_request_latency_seconds") == set()
    assert scrape.value("wess_database_size_bytes") > 0
    assert scrape.value("wess_memory_usage") > 0


async def test_the_original_families_add_up_wess_own() -> None:
    """The unlabelled latency counts every request, the error count every error, the
    database operations are reads and writes, and the channel gauges are free slots."""
    async with open_client(test_settings(WESS_WRITER_CHANNEL_SIZE="77")) as client:
        scrape = await traffic(client)
    by_route = sum(s.value for s in scrape.samples("wess_http_request_duration_seconds_count"))
    assert scrape.value("wess_http_request_latency_seconds_count") == by_route
    errors = sum(s.value for s in scrape.samples("wess_errors_total"))
    assert errors >= 2  # the trap and the bad id
    assert scrape.value("wess_error_count_total") == errors
    operations = {s.labels["operation"] for s in scrape.samples("wess_database_operations_total")}
    assert operations == {"read", "write"}
    assert scrape.value("wess_writer_channel_queue") == 77.0  # idle: every slot free
    assert scrape.value("wess_queue_capacity", queue="writer") == 77.0
    assert scrape.value("wess_wasm_compile_time_seconds_count", wasm_module="other") >= 1
    assert scrape.value("wess_wasm_execution_time_seconds_count", function_name="other") == 3
    paths = {s.labels["path"] for s in scrape.samples("wess_http_requests_total")}
    assert {"/v1/modules/{module_id}/run", "/{module_id}"} <= paths  # templates, not ids


async def test_operator_metrics_count_traps_fuel_and_build() -> None:
    """Traps by kind, timeouts, fuel of metered calls, the pool gauges and the build
    info are on /metrics."""
    settings = test_settings(WESS_RUNNER_FUEL="1000000")
    async with open_client(settings) as client:
        scrape = await traffic(client)
    assert scrape.value("wess_traps_total", kind="unreachable") == 1
    assert scrape.value("wess_timeouts_total") == 0
    assert scrape.value("wess_fuel_consumed_total") > 0
    assert scrape.value("wess_invocations_in_flight", pool="invoke") == 0
    assert scrape.value("wess_invocations_queued", pool="invoke") == 0
    (build,) = scrape.samples("wess_build_info")
    assert set(build.labels) == {"version", "wasmtime", "python"}
    assert build.value == 1
    assert "wess_breaker_state" in scrape.families  # declared for the circuit breakers
    assert "process_resident_memory_bytes" in scrape.families


async def test_readiness_is_on_the_metrics_page() -> None:
    """wess_ready and each wess_ready_check are evaluated at scrape: 1 while the checks
    pass, 0 for a failing one (what the readiness alert watches)."""

    async def broken() -> None:
        raise RuntimeError("disk on fire")

    async with open_client() as client:
        scrape = Scrape((await client.get("/metrics")).text)
        assert scrape.value("wess_ready") == 1
        assert scrape.value("wess_ready_check", check="storage") == 1
        state: ApiState = client.state
        failing = dataclasses.replace(state, health=HealthCheck({"storage": broken}))
        sites = site_policy(client.settings, port=client.settings.server.port)
        app = create_app(failing, sites=sites, access_log=None)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=client.base_url) as other:
            headers = dict(client.headers)
            scrape = Scrape((await other.get("/metrics", headers=headers)).text)
    assert scrape.value("wess_ready") == 0
    assert scrape.value("wess_ready_check", check="storage") == 0
