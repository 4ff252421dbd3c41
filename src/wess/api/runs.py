"""Reading a run request by hand: it is the hot path, and argument values must reach the
codec exactly as sent (a schema library would coerce ``"5"`` or ``true`` to numbers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wess.errors import InvalidRequest
from wess.runtime.limits import BY_NAME, PER_CALL
from wess.service import RunLimits

RUN_BODY_LIMIT = 64 * 1024
"""Arguments are at most a few numbers; this bounds what a run request may send."""
RUN_FIELDS = frozenset({"function", "args", "limits"})


@dataclass(frozen=True, slots=True)
class RunCall:
    function: str | None
    args: list[Any]
    limits: RunLimits | None


def parse_run_request(document: Any) -> RunCall:
    """``{"function"?: str, "args"?: [...], "limits"?: {...}}`` -> RunCall."""
    if not isinstance(document, dict):
        raise InvalidRequest(
            'the body must be a JSON object like {"function": "sum", "args": [1, 2]}'
        )
    unknown = document.keys() - RUN_FIELDS
    if unknown:
        raise InvalidRequest(
            f"unknown field(s): {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(RUN_FIELDS))}"
        )
    function = document.get("function")
    if function is not None and (not isinstance(function, str) or not function):
        raise InvalidRequest("function must be a non-empty string", field="function")
    args = document.get("args", [])
    if not isinstance(args, list):
        raise InvalidRequest("args must be a JSON array", field="args")
    return RunCall(function=function, args=args, limits=_limits(document.get("limits")))


def _limits(raw: Any) -> RunLimits | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidRequest("limits must be an object", field="limits")
    unknown = raw.keys() - set(PER_CALL)
    if unknown:
        raise InvalidRequest(
            f"unknown limit(s): {', '.join(sorted(unknown))}; allowed: {', '.join(PER_CALL)}",
            field="limits",
        )
    asked: dict[str, int] = {}
    for name, value in raw.items():
        if value is None:
            continue
        spec = BY_NAME[name]
        if type(value) is not int or not spec.minimum <= value <= spec.maximum:
            raise InvalidRequest(
                f"limits.{name} must be a whole number from {spec.minimum} to {spec.maximum} "
                f"({spec.unit})",
                field=f"limits.{name}",
            )
        asked[name] = value
    return RunLimits(asked)
