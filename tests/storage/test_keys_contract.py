"""The ``ApiKeyStore`` contract: API key records. Run against every backend."""

from __future__ import annotations

import dataclasses

from tests.storage.builders import (
    make_key,
)
from wess.storage import (
    PutApiKey,
    RemoveApiKey,
    Store,
)


async def test_api_keys_are_kept_by_id_and_listed_in_id_order(
    store: Store,
) -> None:
    """A put key reads back equal (hash, times, role); listing is ordered by id; a second
    put replaces; a removal forgets it, and removing an absent key is no error."""
    keys = [make_key(f"{i:016x}") for i in (3, 1, 2)]
    await store.commit([PutApiKey(key) for key in keys])
    assert await store.keys.get(keys[0].id) == keys[0]
    assert await store.keys.get("ffffffffffffffff") is None
    assert [k.id for k in await store.keys.list()] == sorted(k.id for k in keys)
    touched = dataclasses.replace(keys[1], last_used_at=keys[1].created_at)
    await store.commit([PutApiKey(touched), RemoveApiKey(keys[2].id), RemoveApiKey("none")])
    assert await store.keys.get(keys[1].id) == touched
    assert await store.keys.get(keys[2].id) is None
    assert await store.keys.list() == sorted([keys[0], touched], key=lambda k: k.id)


async def test_api_keys_do_not_count_as_modules(store: Store) -> None:
    """Keys live apart from modules: listing, counting and usage ignore them."""
    await store.commit([PutApiKey(make_key())])
    assert await store.modules.count() == 0
    assert await store.modules.list(namespace=None, after=None, limit=10) == []
    assert await store.modules.namespace_usage() == {}
