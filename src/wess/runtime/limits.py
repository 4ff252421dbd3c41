"""What one invocation may use: memory, wall-clock time, fuel, table size, output.

``Limits`` is a value. The configured limits are the ceiling of every call; a request
may ask for lower ones through ``Limits.narrowed`` and never for higher ones.

``Limits`` is also the one description of the sandbox limits: each field declares its
default, bounds, unit and meaning, and whether a run request may lower it
(``LIMITS``, ``PER_CALL``). The configuration section, the HTTP request schema, the
per-call narrowing and docs/configuration.md are derived from it, so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeGuard, cast

from wess.errors import ConfigError, InvalidRequest

MIB = 1 << 20
KIB = 1 << 10
GIB = 1 << 30
MAXIMUM = (1 << 63) - 1
"""The largest value of most limits: wasmtime takes them as signed 64-bit integers."""
MAX_TIMEOUT_MS = 3_600_000
"""One hour: closing a Runtime advances the epoch past every deadline it gave out, one
tick at a time, to interrupt calls still running."""

_SPEC = "wess.limit"


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitSpec:
    """One sandbox limit, as every layer shows it.

    ``default`` None means the limit is off unless set (only fuel: unmetered);
    ``minimum`` and ``maximum`` bound it everywhere (configuration, requests, the
    embedding API); ``per_call`` says a run request may lower it.
    """

    name: str
    default: int | None
    minimum: int
    maximum: int
    unit: str
    description: str
    per_call: bool

    def check(self, value: object, *, error: type[ConfigError] | type[InvalidRequest]) -> int:
        """``value`` if it is an integer within the bounds, else ``error`` naming the limit."""
        if not _is_count(value) or not self.minimum <= value <= self.maximum:
            raise error(
                f"{self.name} must be an integer in [{self.minimum}, {self.maximum}], "
                f"got {_short(value)}",
                field=self.name,
            )
        return value


def _limit(
    default: int | None,
    *,
    minimum: int,
    maximum: int = MAXIMUM,
    unit: str,
    per_call: bool,
    description: str,
) -> Any:
    """A ``Limits`` field carrying its description (read back into ``LIMITS``)."""
    meta = {
        "minimum": minimum,
        "maximum": maximum,
        "unit": unit,
        "per_call": per_call,
        "description": description,
    }
    return field(default=default, metadata={_SPEC: meta})


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The sandbox of one invocation.

    ``max_memory`` bounds each linear memory in bytes (the Store limiter);
    ``timeout_ms`` is wall-clock time, enforced by epoch interruption, at most an
    hour; ``fuel`` is an instruction budget, ``None`` for unmetered;
    ``max_table_elements`` bounds each table; ``max_instances`` the instances of one
    Store; ``max_output`` the captured bytes of stdout and of stderr (each), past which
    output is dropped and marked truncated.
    """

    max_memory: int = _limit(
        256 * MIB,
        minimum=0,
        maximum=4 * GIB,
        unit="bytes",
        per_call=True,
        description="Linear memory of each instance",
    )
    timeout_ms: int = _limit(
        5000,
        minimum=1,
        maximum=MAX_TIMEOUT_MS,
        unit="ms",
        per_call=True,
        description="Wall-clock time of a call",
    )
    fuel: int | None = _limit(
        None,
        minimum=1,
        unit="fuel units",
        per_call=True,
        description="Instruction budget of a call",
    )
    max_table_elements: int = _limit(
        100_000,
        minimum=0,
        unit="elements",
        per_call=False,
        description="Size of each table",
    )
    max_instances: int = _limit(
        10,
        minimum=1,
        maximum=10_000,
        unit="count",
        per_call=False,
        description="Instances one call may create",
    )
    max_output: int = _limit(
        64 * KIB,
        minimum=0,
        maximum=16 * MIB,
        unit="bytes",
        per_call=False,
        description="Captured stdout, and stderr, of a call, past which output is dropped",
    )

    def __post_init__(self) -> None:
        for spec in LIMITS:
            value = getattr(self, spec.name)
            if value is not None or spec.default is not None:
                spec.check(value, error=ConfigError)

    @classmethod
    def from_values(cls, values: Mapping[str, int | None]) -> Limits:
        """Limits from a mapping of limit names (``LIMITS``) to values; absent ones
        keep their default. ``ConfigError`` for a name that is not a limit."""
        unknown = values.keys() - BY_NAME.keys()
        if unknown:
            raise ConfigError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        return cls(**values)  # type: ignore[arg-type]  # checked by __post_init__

    @property
    def metered(self) -> bool:
        """True when a fuel budget applies (and ``fuel_used`` is reported)."""
        return self.fuel is not None

    def narrowed(self, **asked: object) -> Limits:
        """These limits lowered by per-request values (``None``: keep this one).

        A value above the ceiling raises ``InvalidRequest`` naming the field, the value
        asked for and the maximum; so does a value outside the limit's bounds. Asking
        for fuel when the ceiling is unmetered is lowering, and is allowed. A name that
        is not a limit is a ``TypeError``, as for any unknown keyword.
        """
        changes: dict[str, int] = {}
        for name, value in asked.items():
            spec = BY_NAME.get(name)
            if spec is None:
                raise TypeError(f"narrowed() got an unexpected limit {name!r}")
            if value is None:
                continue
            lowered = spec.check(value, error=InvalidRequest)
            ceiling: int | None = getattr(self, name)
            if ceiling is not None and lowered > ceiling:
                raise InvalidRequest(
                    f"{name} may only be lowered: asked for {lowered}, the maximum is {ceiling}",
                    field=name,
                    asked=lowered,
                    maximum=ceiling,
                )
            changes[name] = lowered
        return replace(self, **changes) if changes else self

    def within(self, ceiling: Limits) -> Limits:
        """``ceiling.narrowed`` by every field of these limits: proof they raise nothing."""
        return ceiling.narrowed(**{spec.name: getattr(self, spec.name) for spec in LIMITS})


LIMITS: tuple[LimitSpec, ...] = tuple(
    LimitSpec(name=f.name, default=cast("int | None", f.default), **f.metadata[_SPEC])
    for f in fields(Limits)
)
"""Every sandbox limit, in declaration order."""

BY_NAME: Mapping[str, LimitSpec] = {spec.name: spec for spec in LIMITS}

PER_CALL: tuple[str, ...] = tuple(spec.name for spec in LIMITS if spec.per_call)
"""The limits a run request may lower (``"limits": {...}`` of ``POST .../run``)."""


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a very large integer"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
