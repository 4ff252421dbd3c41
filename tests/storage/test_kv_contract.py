"""The KvStore contract, on every backend: values by namespace, listing by prefix in
byte order, usage counted, the quota refusing a write atomically."""

from __future__ import annotations

import asyncio

import pytest

from wess.errors import QuotaExceeded
from wess.storage import Store

BIG = 1 << 30


async def test_put_get_delete_per_namespace(store: Store) -> None:
    """A value reads back in its namespace only; a delete says whether one was there."""
    await store.kv.put("a", "counter", b"\x01", quota=BIG)
    assert await store.kv.get("a", "counter") == b"\x01"
    assert await store.kv.get("b", "counter") is None
    await store.kv.put("a", "counter", b"\x02\x00", quota=BIG)
    assert await store.kv.get("a", "counter") == b"\x02\x00"
    assert await store.kv.delete("a", "counter")
    assert not await store.kv.delete("a", "counter")
    assert await store.kv.get("a", "counter") is None


async def test_list_by_prefix_in_byte_order_with_a_cursor(store: Store) -> None:
    """Keys with the prefix, byte order, ``after`` continues, other namespaces apart."""
    for key in ("user/b", "user/a", "user/c", "users", "other", "user/é"):
        await store.kv.put("a", key, b"x", quota=BIG)
    await store.kv.put("b", "user/z", b"x", quota=BIG)
    assert await store.kv.list("a", prefix="user/", limit=10) == [
        "user/a",
        "user/b",
        "user/c",
        "user/é",
    ]
    assert await store.kv.list("a", prefix="user/", after="user/a", limit=2) == ["user/b", "user/c"]
    assert await store.kv.list("a", limit=100) == sorted(
        ["user/b", "user/a", "user/c", "users", "other", "user/é"], key=str.encode
    )
    assert await store.kv.list("c", limit=10) == []


async def test_usage_counts_keys_and_values_and_the_quota_refuses_atomically(
    store: Store,
) -> None:
    """Usage is keys' and values' bytes; a put past the quota writes nothing."""
    await store.kv.put("a", "k1", b"12345", quota=20)  # 2 + 5
    await store.kv.put("a", "k2", b"123", quota=20)  # 2 + 3
    assert await store.kv.usage("a") == 12
    with pytest.raises(QuotaExceeded):
        await store.kv.put("a", "k3", b"1234567", quota=20)  # 12 + 9 = 21
    assert await store.kv.get("a", "k3") is None
    assert await store.kv.usage("a") == 12
    await store.kv.put("a", "k1", b"1234567890", quota=20)  # replaces: 12 - 5 + 10
    assert await store.kv.usage("a") == 17
    await store.kv.delete("a", "k1")
    assert await store.kv.usage("a") == 5
    assert await store.kv.usage("b") == 0


async def test_concurrent_writes_never_pass_the_quota_together(store: Store) -> None:
    """Ten writers of 10 bytes each against a quota of 50: exactly five land."""
    results = await asyncio.gather(
        *(store.kv.put("a", f"k{i}", b"12345678", quota=50) for i in range(10)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if r is None) == 5
    assert all(isinstance(r, QuotaExceeded) for r in results if r is not None)
    assert await store.kv.usage("a") == 50
