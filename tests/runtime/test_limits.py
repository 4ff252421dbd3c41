"""Limits: defaults, validation, and narrowing that may only lower."""

from __future__ import annotations

import pytest

from wess.errors import ConfigError, InvalidRequest
from wess.runtime import Limits, RuntimeConfig
from wess.runtime.engine import EpochTicker, build_engine
from wess.runtime.limits import BY_NAME, LIMITS, PER_CALL


def test_defaults() -> None:
    """The documented defaults: 256 MiB, 5 s, unmetered, 100k table elements, 10
    instances, 64 KiB of output."""
    limits = Limits()
    assert (
        limits.max_memory,
        limits.timeout_ms,
        limits.fuel,
        limits.max_table_elements,
        limits.max_instances,
        limits.max_output,
    ) == (256 << 20, 5000, None, 100_000, 10, 64 << 10)
    assert not limits.metered


def test_the_description_covers_every_field() -> None:
    """LIMITS describes each field of Limits once, in order, with its default inside
    its bounds; the per-call ones are those a run request may lower."""
    assert [spec.name for spec in LIMITS] == [
        "max_memory",
        "timeout_ms",
        "fuel",
        "max_table_elements",
        "max_instances",
        "max_output",
    ]
    defaults = Limits()
    for spec in LIMITS:
        assert getattr(defaults, spec.name) == spec.default
        assert spec.default is None or spec.minimum <= spec.default <= spec.maximum
        assert spec.unit
        assert spec.description
    assert PER_CALL == ("max_memory", "timeout_ms", "fuel")


@pytest.mark.parametrize("spec", LIMITS, ids=lambda spec: spec.name)
def test_bounds_hold_for_construction_and_narrowing(spec) -> None:
    """The same bounds refuse a configured value (ConfigError) and a requested one
    (InvalidRequest), just past either end."""
    ceiling = Limits.from_values({spec.name: spec.maximum})
    assert ceiling.narrowed(**{spec.name: spec.minimum}) == Limits.from_values(
        {spec.name: spec.minimum}
    )
    for outside in (spec.minimum - 1, spec.maximum + 1):
        with pytest.raises(ConfigError, match=spec.name):
            Limits.from_values({spec.name: outside})
        with pytest.raises(InvalidRequest, match=f"{spec.name} must be an integer"):
            ceiling.narrowed(**{spec.name: outside})


def test_unknown_limit_names_are_refused() -> None:
    """A misspelt limit is an error, never silently ignored."""
    with pytest.raises(TypeError, match="timeout"):
        Limits().narrowed(timeout=10)
    with pytest.raises(ConfigError, match="timeout"):
        Limits.from_values({"timeout": 10})
    assert BY_NAME["fuel"].default is None


def test_narrowed_lowers() -> None:
    """Per-request values below the ceiling replace it; None keeps the ceiling."""
    ceiling = Limits(max_memory=1 << 20, timeout_ms=1000, fuel=500)
    narrowed = ceiling.narrowed(timeout_ms=10, fuel=None, max_memory=1 << 16)
    assert (narrowed.timeout_ms, narrowed.fuel, narrowed.max_memory) == (10, 500, 1 << 16)
    assert ceiling.narrowed() is ceiling


def test_narrowed_equal_is_allowed() -> None:
    """Asking for exactly the ceiling is not raising it."""
    assert Limits(timeout_ms=1000).narrowed(timeout_ms=1000).timeout_ms == 1000


@pytest.mark.parametrize(
    ("field", "asked", "maximum"),
    [
        ("timeout_ms", 5001, 5000),
        ("max_memory", (256 << 20) + 1, 256 << 20),
        ("max_output", (64 << 10) + 1, 64 << 10),
    ],
)
def test_narrowed_refuses_to_raise(field: str, asked: int, maximum: int) -> None:
    """Asking for more than the ceiling raises InvalidRequest naming the field, the value
    asked for and the maximum."""
    with pytest.raises(InvalidRequest) as caught:
        Limits().narrowed(**{field: asked})
    assert caught.value.detail == (
        f"{field} may only be lowered: asked for {asked}, the maximum is {maximum}"
    )
    assert caught.value.context == {"field": field, "asked": asked, "maximum": maximum}


def test_fuel_can_be_asked_for_when_unmetered() -> None:
    """With no fuel limit configured, any fuel limit is a lowering."""
    assert Limits().narrowed(fuel=10**12).fuel == 10**12


def test_fuel_cannot_exceed_a_configured_budget() -> None:
    """With a fuel budget configured, asking for more is refused."""
    with pytest.raises(InvalidRequest, match="fuel may only be lowered"):
        Limits(fuel=100).narrowed(fuel=101)


@pytest.mark.parametrize("value", [True, 1.5, "10", -1, [], {}, 1 << 63, 10**100])
def test_narrowed_refuses_non_counts(value: object) -> None:
    """Booleans, floats, strings, negatives, containers and values beyond 64 bits are
    not limits."""
    with pytest.raises(InvalidRequest, match="timeout_ms must be an integer"):
        Limits().narrowed(timeout_ms=value)


def test_zero_timeout_is_refused() -> None:
    """A timeout must be at least 1 ms."""
    with pytest.raises(InvalidRequest):
        Limits().narrowed(timeout_ms=0)


def test_within_checks_every_field() -> None:
    """within() accepts limits below a ceiling and refuses any field above it."""
    ceiling = Limits(timeout_ms=100)
    assert Limits(timeout_ms=50).within(ceiling).timeout_ms == 50
    with pytest.raises(InvalidRequest, match="timeout_ms"):
        Limits(timeout_ms=101).within(ceiling)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout_ms": 0},
        {"max_memory": -1},
        {"fuel": -5},
        {"max_instances": 0},
        {"max_output": True},
        {"max_memory": 1 << 64},
        {"fuel": 1 << 63},
        {"timeout_ms": 3_600_001},
        {"max_memory": (4 << 30) + 1},
        {"max_instances": 10_001},
        {"max_output": (16 << 20) + 1},
        {"fuel": 0},
    ],
)
def test_invalid_configured_limits(kwargs: dict[str, object]) -> None:
    """Configured limits are validated when built, up to the int64 wasmtime takes:
    ConfigError (a wrapped value could mean "unlimited")."""
    with pytest.raises(ConfigError):
        Limits(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epoch_tick_ms": 0},
        {"max_wasm_stack": 0},
        {"cache_bytes": -1},
        {"cache_entries": -1},
        {"epoch_tick_ms": None},
        {"fast_path": 1},
    ],
)
def test_invalid_runtime_config(kwargs: dict[str, object]) -> None:
    """RuntimeConfig is validated when built: ConfigError."""
    with pytest.raises(ConfigError):
        RuntimeConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tick", "timeout", "ticks"), [(10, 1, 2), (10, 10, 2), (10, 11, 3), (10, 5000, 501), (1, 7, 8)]
)
def test_deadline_is_never_shorter_than_the_timeout(tick: int, timeout: int, ticks: int) -> None:
    """The epoch deadline has one tick more than the timeout needs, because the first
    tick may come right away."""
    ticker = EpochTicker(build_engine(RuntimeConfig()), tick_ms=tick)
    assert ticker.deadline_ticks(timeout) == ticks
