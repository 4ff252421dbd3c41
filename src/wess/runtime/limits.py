"""What one invocation may use: memory, wall-clock time, fuel, table size, output.

``Limits`` is a value. The configured limits are the ceiling of every call; a request
may ask for lower ones through ``Limits.narrowed`` and never for higher ones.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TypeGuard

from wess.errors import ConfigError, InvalidRequest

MIB = 1 << 20
KIB = 1 << 10
MAXIMUM = (1 << 63) - 1
"""The largest value of most limits: wasmtime takes them as signed 64-bit integers."""
MAX_TIMEOUT_MS = 3_600_000
"""One hour: closing a Runtime advances the epoch past every deadline it gave out, one
tick at a time, to interrupt calls still running."""


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

    max_memory: int = 256 * MIB
    timeout_ms: int = 5000
    fuel: int | None = None
    max_table_elements: int = 100_000
    max_instances: int = 10
    max_output: int = 64 * KIB

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None and field.name == "fuel":
                continue
            low, high = _MINIMUM[field.name], _MAXIMUM.get(field.name, MAXIMUM)
            if not _is_count(value) or not low <= value <= high:
                raise ConfigError(
                    f"limit {field.name} must be an integer in [{low}, {high}], "
                    f"got {_short(value)}",
                    field=field.name,
                )

    @property
    def metered(self) -> bool:
        """True when a fuel budget applies (and ``fuel_used`` is reported)."""
        return self.fuel is not None

    def narrowed(
        self,
        *,
        max_memory: object = None,
        timeout_ms: object = None,
        fuel: object = None,
        max_table_elements: object = None,
        max_instances: object = None,
        max_output: object = None,
    ) -> Limits:
        """These limits lowered by per-request values (``None``: keep this one).

        A value above the ceiling raises ``InvalidRequest`` naming the field, the value
        asked for and the maximum; so does a value that is not a non-negative integer.
        Asking for fuel when the ceiling is unmetered is lowering, and is allowed.
        """
        requested = {
            "max_memory": max_memory,
            "timeout_ms": timeout_ms,
            "fuel": fuel,
            "max_table_elements": max_table_elements,
            "max_instances": max_instances,
            "max_output": max_output,
        }
        changes: dict[str, int] = {}
        for name, asked in requested.items():
            if asked is None:
                continue
            low, high = _MINIMUM[name], _MAXIMUM.get(name, MAXIMUM)
            if not _is_count(asked) or not low <= asked <= high:
                raise InvalidRequest(
                    f"{name} must be an integer in [{low}, {high}], got {_short(asked)}", field=name
                )
            ceiling: int | None = getattr(self, name)
            if ceiling is not None and asked > ceiling:
                raise InvalidRequest(
                    f"{name} may only be lowered: asked for {asked}, the maximum is {ceiling}",
                    field=name,
                    asked=asked,
                    maximum=ceiling,
                )
            changes[name] = asked
        return replace(self, **changes) if changes else self

    def within(self, ceiling: Limits) -> Limits:
        """``ceiling.narrowed`` by every field of these limits: proof they raise nothing."""
        return ceiling.narrowed(
            max_memory=self.max_memory,
            timeout_ms=self.timeout_ms,
            fuel=self.fuel,
            max_table_elements=self.max_table_elements,
            max_instances=self.max_instances,
            max_output=self.max_output,
        )


_MINIMUM = {
    "max_memory": 0,
    "timeout_ms": 1,
    "fuel": 0,
    "max_table_elements": 0,
    "max_instances": 1,
    "max_output": 0,
}


_MAXIMUM = {"timeout_ms": MAX_TIMEOUT_MS}


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a very large integer"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
