"""The destruction suite's settings: how hard to push (short in `make test`, full in
`make chaos`), real servers, and where a full run records its figures for
docs/RELIABILITY.md (bench/reliability.py writes them there)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import server_factory  # noqa: F401  (a fixture, re-exported)

LEVEL_VARIABLE = "WESS_CHAOS"
UNLIMITED = {
    "WESS_RATELIMIT_PER_IP": "10000000/minute",
    "WESS_RATELIMIT_PER_KEY": "10000000/minute",
}
"""Server settings for tests that check thousands of records from one address: the
rate limits (1000/minute per address by default) would answer 429 to the checks."""
RESULTS_VARIABLE = "WESS_CHAOS_RESULTS"
"""A JSON-lines file each test appends its figures to (set by `make chaos`)."""


@dataclass(frozen=True)
class Level:
    """How much each test does: ``short`` inside `make test`, ``full`` for `make chaos`."""

    name: str

    @property
    def full(self) -> bool:
        return self.name == "full"

    def pick(self, short: int, full: int) -> int:
        return full if self.full else short


def chaos_level() -> Level:
    name = os.environ.get(LEVEL_VARIABLE, "short")
    if name not in ("short", "full"):
        raise pytest.UsageError(f"{LEVEL_VARIABLE} is short or full, not {name!r}")
    return Level(name)


@pytest.fixture(scope="session")
def level() -> Level:
    return chaos_level()


Record = Callable[..., None]


@pytest.fixture
def record(request: pytest.FixtureRequest, level: Level) -> Record:
    """``record(**figures)``: keep this test's figures for the reliability report
    (a no-op unless WESS_CHAOS_RESULTS names a file)."""

    def keep(**figures: Any) -> None:
        path = os.environ.get(RESULTS_VARIABLE)
        if not path:
            return
        line = {"test": request.node.nodeid, "level": level.name, **figures}
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, sort_keys=True) + "\n")

    return keep
