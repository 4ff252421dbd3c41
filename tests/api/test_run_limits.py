"""The sandbox limits agree everywhere they show: the runtime's description
(``wess.runtime.limits``), the configuration, /openapi.json, the run request parser,
and docs/configuration.md. Each test fails if one of them drifts from the runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from wess.api.runs import parse_run_request
from wess.config import SECTIONS, Settings
from wess.config.sections import LIMIT_KEYS
from wess.errors import InvalidRequest
from wess.runtime.limits import BY_NAME, LIMITS, PER_CALL, LimitSpec
from wess.server import runtime_limits
from wess.service import RunLimits
from wess.testing import assert_problem

ROOT = Path(__file__).resolve().parents[2]


def _bounds(metadata: list[object]) -> tuple[object, object]:
    """The ge and le a pydantic field declares."""
    found = {name: getattr(m, name) for m in metadata for name in ("ge", "le") if hasattr(m, name)}
    return found.get("ge"), found.get("le")


@pytest.mark.parametrize("spec", LIMITS, ids=lambda spec: spec.name)
def test_every_limit_is_configured_once_with_its_bounds_and_default(spec: LimitSpec) -> None:
    """Each limit has exactly one configuration key, with the runtime's default and bounds,
    and the configured value is what the runtime gets."""
    section, key = LIMIT_KEYS[spec.name]
    info = SECTIONS[section].model_fields[key]
    assert info.default == spec.default
    assert _bounds(info.metadata) == (spec.minimum, spec.maximum)
    assert len(LIMIT_KEYS) == len(LIMITS)
    configured = Settings.model_validate({section: {key: spec.minimum}})
    assert getattr(runtime_limits(configured), spec.name) == spec.minimum


async def test_openapi_offers_exactly_the_per_call_limits_with_their_bounds(client) -> None:
    """/openapi.json's run request lists each per-call limit, with the runtime's bounds,
    and nothing else."""
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    run = schemas["RunRequest"]["properties"]["limits"]
    ref = next(item["$ref"] for item in run["anyOf"] if "$ref" in item)
    properties = schemas[ref.rsplit("/", 1)[1]]["properties"]
    assert tuple(properties) == PER_CALL
    for name, schema in properties.items():
        spec = BY_NAME[name]
        number = next(item for item in schema["anyOf"] if item.get("type") == "integer")
        assert (number["minimum"], number["maximum"]) == (spec.minimum, spec.maximum)


@pytest.mark.parametrize("name", PER_CALL)
def test_the_parser_takes_each_per_call_limit_within_its_bounds(name: str) -> None:
    """A run request may ask for any per-call limit at either bound, and nothing past them."""
    spec = BY_NAME[name]
    for value in (spec.minimum, spec.maximum):
        call = parse_run_request({"limits": {name: value}})
        assert call.limits == RunLimits({name: value})
    for value in (spec.minimum - 1, spec.maximum + 1, True, 1.0):
        with pytest.raises(InvalidRequest, match=f"limits.{name}"):
            parse_run_request({"limits": {name: value}})


@pytest.mark.parametrize("spec", [s for s in LIMITS if not s.per_call], ids=lambda s: s.name)
def test_other_limits_cannot_be_asked_for_per_call(spec: LimitSpec) -> None:
    """A limit that is not per-call is refused by the parser and by RunLimits."""
    with pytest.raises(InvalidRequest, match="allowed: " + ", ".join(PER_CALL)):
        parse_run_request({"limits": {spec.name: spec.minimum}})
    with pytest.raises(InvalidRequest, match=spec.name):
        RunLimits({spec.name: spec.minimum})


async def test_a_limit_past_its_bound_is_a_400_naming_it(client, upload) -> None:
    """Over HTTP, a per-call limit past its bound is an invalid_request naming it."""
    url = f"/v1/modules/{(await upload('sum'))['id']}/run"
    spec = BY_NAME["max_memory"]
    response = await client.post(url, json={"args": [1, 2], "limits": {spec.name: -1}})
    assert f"limits.{spec.name}" in assert_problem(response, 400, "invalid_request")["detail"]


@pytest.mark.parametrize("spec", LIMITS, ids=lambda spec: spec.name)
def test_the_docs_show_each_limit_with_its_key_bounds_and_default(spec: LimitSpec) -> None:
    """docs/configuration.md's limits table has one row per limit naming its key, whether
    a request may lower it, its default and its bounds."""
    text = (ROOT / "docs/configuration.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith(f"| `{spec.name}` |")]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    section, key = LIMIT_KEYS[spec.name]
    assert cells[1] == f"`{section}.{key}`"
    assert (cells[2] != "no") == spec.per_call
    assert cells[3] == f"`{'unset' if spec.default is None else spec.default}`"
    assert cells[4] == f"{spec.minimum} … {spec.maximum}"
    key_row = next(line for line in text.splitlines() if line.startswith(f"| `{section}.{key}` |"))
    assert f">= {spec.minimum}, <= {spec.maximum}" in key_row
