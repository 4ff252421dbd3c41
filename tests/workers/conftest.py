"""Real repositories behind a counting wrapper, and fresh metrics, for the worker tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.storage.counting import CountingRepository
from wess.observability.metrics import Metrics
from wess.storage.memory import MemoryRepository


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def repository() -> AsyncIterator[CountingRepository]:
    repository = CountingRepository(MemoryRepository())
    yield repository
    await repository.aclose()
