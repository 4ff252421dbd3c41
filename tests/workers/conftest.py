"""Real repositories behind a counting wrapper, and fresh metrics, for the worker tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from wess.observability.metrics import Metrics
from wess.storage.memory import MemoryStore
from wess.testing import RecordingStore


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def repository() -> AsyncIterator[RecordingStore]:
    repository = RecordingStore(MemoryStore())
    yield repository
    await repository.aclose()
