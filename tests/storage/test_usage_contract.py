"""The ``UsageStore`` contract: invocation counts per module. Run against every backend."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.storage.builders import (
    make_record,
    unique_wasm,
)
from wess.storage import (
    AddUsage,
    PutModule,
    Store,
)


async def test_usage_adds_up_and_ranks_most_used_first(store: Store) -> None:
    """Counts add across commits and within one; most_used ranks by count, then id, and
    drops counts for modules that do not exist."""
    a, b, c = make_record(), make_record(), make_record()
    await store.commit([PutModule(a), PutModule(b), PutModule(c)])
    await store.commit([AddUsage(((a.id, 2), (b.id, 7), (uuid4(), 100)))])
    await store.commit([AddUsage(((a.id, 3),)), AddUsage(((a.id, 4), (c.id, 1)))])
    assert await store.usage.most_used(10) == [(a.id, 9), (b.id, 7), (c.id, 1)]
    assert await store.usage.most_used(2) == [(a.id, 9), (b.id, 7)]
    await store.commit([PutModule(make_record(a.id, wasm=unique_wasm("a2"), revision=2))])
    assert (await store.usage.most_used(1))[0] == (a.id, 9)  # new bytes keep the count


async def test_negative_usage_is_refused_before_anything_is_written(
    store: Store,
) -> None:
    """A commit holding a negative count raises ValueError and applies nothing."""
    record = make_record()
    with pytest.raises(ValueError, match="only grow"):
        await store.commit([PutModule(record), AddUsage(((record.id, -1),))])
    assert await store.modules.get_info(record.id) is None
