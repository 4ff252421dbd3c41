"""What the deployment kit is checked against: a real /metrics page after traffic,
the settings Wess reads from the environment, the routes it serves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

import promql_parser
import pytest

from tests.fixtures import wasm
from wess.api.app import ROUTERS
from wess.config import SECTIONS, Settings, load_settings
from wess.config.loading import CONFIG_FILE_ENV, ENV_ALIASES, ENV_PREFIX
from wess.testing import Scrape, open_client, test_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
WASM = {"content-type": "application/wasm"}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
"""Grafana's interval variables, replaced by durations before an expression is parsed."""


async def scrape_after_traffic(data: Path) -> tuple[Scrape, set[str]]:
    """Uploads, runs (a listed module, others, a trap, a timeout), reads and misses on a
    RocksDB store with fuel metering; then /metrics, and the paths the app serves."""
    settings = test_settings(
        WESS_DATABASE_URL="",
        WESS_DB_PATH=str(data),
        WESS_RUNNER_FUEL="100000000",
        WESS_METRICS_PER_MODULE="adder",
    )
    async with open_client(settings) as client:
        adder = await client.post("/v1/modules?name=adder", content=wasm("sum"), headers=WASM)
        traps = await client.post("/v1/modules", content=wasm("traps"), headers=WASM)
        for module, body in (
            (adder, {"args": [1, 2]}),
            (traps, {"function": "unreachable"}),
            (traps, {"function": "spin", "limits": {"timeout_ms": 50}}),
        ):
            await client.post(f"/v1/modules/{module.json()['id']}/run", json=body)
        await client.post(f"/{adder.json()['id']}", content=b"[1, 2]")
        await client.get(f"/v1/modules/{adder.json()['id']}")
        await client.get("/v1/modules/00000000-0000-4000-8000-000000000000")
        await client.get("/readyz")
        text = (await client.get("/metrics")).text
    paths = {getattr(route, "path", "") for router in ROUTERS for route in router.routes}
    return Scrape(text), paths


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scrape, set[str]]:
    return asyncio.run(scrape_after_traffic(tmp_path_factory.mktemp("deploy") / "db"))


@pytest.fixture(scope="module")
def exported(served: tuple[Scrape, set[str]]) -> set[str]:
    """Every metric name a PromQL expression may use against this Wess."""
    return served[0].names()


@pytest.fixture(scope="module")
def routes(served: tuple[Scrape, set[str]]) -> set[str]:
    """The paths the app serves (route templates)."""
    return served[1]


def wess_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The ``WESS_*`` variables of ``env`` (the others are not Wess's: PYTHON*, PIP*)."""
    return {name: value for name, value in env.items() if name.startswith(ENV_PREFIX)}


def unknown_environment(env: Mapping[str, str]) -> list[str]:
    """The ``WESS_*`` names of ``env`` that are no Wess setting (WESS_<SECTION>_<KEY>,
    an alias of the original Wess, or WESS_CONFIG)."""
    unknown = []
    for name in wess_environment(env):
        if name in ENV_ALIASES or name == CONFIG_FILE_ENV:
            continue
        section, _, key = name.removeprefix(ENV_PREFIX).lower().partition("_")
        model = SECTIONS.get(section)
        if model is None or key not in model.model_fields:
            unknown.append(name)
    return unknown


@pytest.fixture
def settings_from() -> Callable[[Mapping[str, str]], Settings]:
    """Settings from an environment as a deployment file sets it: every name a real
    setting, every value valid."""

    def load(env: Mapping[str, str]) -> Settings:
        assert unknown_environment(env) == []
        assert wess_environment(env), "no WESS_* setting at all"
        return load_settings(env=wess_environment(env)).settings

    return load


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects; raises ValueError when it does not
    parse (a real PromQL parser: promql-parser, the Rust one of GreptimeDB)."""
    for variable, duration in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, duration)
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(m.value for m in node.matchers.matchers if m.name == "__name__")

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


@pytest.fixture
def names_in() -> Callable[[str], set[str]]:
    return metric_names
