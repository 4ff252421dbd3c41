"""Runtimes on both call paths, and an observer that keeps what it hears."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wess.runtime import Runtime, RuntimeConfig
from wess.testing import RecordingObserver

PATHS = ("fast", "documented")


@pytest.fixture(params=PATHS)
def runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """A Runtime calling through the C API fast path, then one through wasmtime-py's
    documented API: every test using it checks both paths behave the same."""
    with Runtime(config=RuntimeConfig(fast_path=request.param == "fast")) as rt:
        yield rt


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()
