"""The ``Store`` contract every backend keeps: one atomic, durable commit shared by every
concept, transactions, health and closing. Run against every backend."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from uuid import uuid4

import pytest

from tests.storage.builders import (
    FLAVOR,
    NEW,
    ids,
    make_entries,
    make_key,
    make_record,
    unique_wasm,
)
from wess.errors import StorageUnavailable
from wess.security.crypto import Keyring
from wess.storage import (
    AppendAudit,
    Change,
    PutApiKey,
    PutModule,
    RemoveModule,
    Store,
    StoreView,
)


async def test_is_a_module_store(store: Store) -> None:
    """Every backend satisfies the runtime-checkable Protocol."""
    assert isinstance(store, Store)


async def test_commit_applies_puts_and_removes_together(store: Store) -> None:
    """One commit with several puts and removes leaves exactly their combined effect."""
    kept, removed, replaced = (make_record(wasm=unique_wasm(s)) for s in ("k", "r", "p"))
    await store.commit([PutModule(kept), PutModule(removed), PutModule(replaced)])
    added = [make_record(wasm=unique_wasm(f"n{i}")) for i in range(3)]
    new_replaced = make_record(replaced.id, wasm=unique_wasm("p2"), revision=2)
    await store.commit(
        [
            PutModule(added[0]),
            RemoveModule(removed.id),
            PutModule(new_replaced),
            PutModule(added[1]),
            RemoveModule(uuid4()),  # removing an absent module is not an error
            PutModule(added[2]),
        ]
    )
    assert await store.modules.get(removed.id) is None
    assert await store.modules.get(replaced.id) == new_replaced
    assert await store.modules.get(kept.id) == kept
    assert await store.modules.count() == 5
    assert set(ids(await store.modules.list(namespace=None, after=None, limit=10))) == {
        kept.id,
        replaced.id,
        *(r.id for r in added),
    }


async def test_later_changes_in_a_commit_see_earlier_ones(store: Store) -> None:
    """Put-then-remove of one id removes it; remove-then-put stores it; indexes agree."""
    gone, back = make_record(namespace="ns"), make_record(namespace="ns")
    await store.commit([PutModule(back)])
    await store.commit(
        [PutModule(gone), RemoveModule(gone.id), RemoveModule(back.id), PutModule(back)]
    )
    assert await store.modules.get(gone.id) is None
    assert await store.modules.get(back.id) == back
    assert await store.modules.count(namespace="ns") == 1
    assert ids(await store.modules.list(namespace="ns", after=None, limit=10)) == [back.id]


async def test_a_commit_that_fails_applies_nothing(store: Store) -> None:
    """If one change cannot be stored (a naive timestamp), no change of the batch lands."""
    good = make_record()
    bad = make_record()
    bad = dataclasses.replace(
        bad,
        info=dataclasses.replace(bad.info, created_at=datetime(2025, 1, 1)),
    )
    with pytest.raises(ValueError, match="naive"):
        await store.commit([PutModule(good), PutModule(bad)])
    assert await store.modules.get(good.id) is None
    assert await store.modules.count() == 0


async def test_a_transaction_reads_the_store_then_commits_what_it_answers(
    store: Store,
) -> None:
    """transact hands ``work`` a view of the store as it is (infos, absent ones as None,
    API keys), then commits the changes ``work`` answers, like commit."""
    stored, key = make_record(namespace="old"), make_key()
    await store.commit([PutModule(stored), PutApiKey(key)])
    fresh = make_record()
    moved = make_record(stored.id, namespace="new", revision=2)
    seen: list[object] = []

    def work(view: StoreView) -> list[Change]:
        seen.append(view.get_infos([stored.id, fresh.id]))
        seen.append((view.get_api_key(key.id), view.get_api_key("ffffffffffffffff")))
        return [PutModule(fresh), PutModule(moved)]

    await store.transact(work)
    assert seen == [{stored.id: stored.info, fresh.id: None}, (key, None)]
    assert await store.modules.get(fresh.id) == fresh
    assert await store.modules.get(stored.id) == moved
    # what the view read of the moved module is what its commit changed: no stale index
    assert await store.modules.count(namespace="old") == 0
    assert ids(await store.modules.list(namespace="new", after=None, limit=10)) == [stored.id]


async def test_a_transaction_whose_work_raises_commits_nothing(
    store: Store,
) -> None:
    """Whatever ``work`` raises propagates from transact, and nothing is stored."""
    record = make_record()

    def work(view: StoreView) -> list[Change]:
        view.get_infos([record.id])
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        await store.transact(work)
    assert await store.modules.count() == 0


async def test_a_transaction_that_answers_nothing_writes_nothing(
    store: Store,
) -> None:
    """An empty answer is a transaction that only read."""
    await store.transact(lambda view: [])
    assert await store.modules.count() == 0
    assert await store.audit.head() is None


async def test_ping_succeeds_while_open(store: Store) -> None:
    """ping returns quietly on a healthy store."""
    await store.ping()


async def test_every_call_after_close_is_unavailable(store: Store) -> None:
    """After aclose every method raises StorageUnavailable, and aclose may be repeated."""
    record = make_record()
    await store.commit([PutModule(record)])
    await store.aclose()
    calls = [
        store.modules.get(record.id),
        store.modules.get_info(record.id),
        store.modules.list(namespace=None, after=None, limit=1),
        store.modules.count(),
        store.commit([RemoveModule(record.id)]),
        store.ping(),
        store.modules.get_artifact(record.id, digest=record.digest, flavor=FLAVOR),
        store.usage.most_used(1),
        store.keys.get("k"),
        store.keys.list(),
        store.audit.head(),
        store.audit.list(after=0, limit=1),
        store.modules.namespace_usage(),
        store.admin.rewrap(Keyring(NEW)),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable):
            await call
    await store.aclose()


async def test_an_audit_entry_lands_in_the_same_commit_as_its_change(
    store: Store,
) -> None:
    """A module, a key and their audit entries commit together, or (on failure) not at all."""
    record, key = make_record(), make_key()
    first, second = make_entries(2)
    await store.commit([PutModule(record), AppendAudit(first)])
    assert await store.audit.head() == first
    bad = dataclasses.replace(
        make_record(), info=dataclasses.replace(record.info, created_at=datetime(2025, 1, 1))
    )
    with pytest.raises(ValueError, match="naive"):
        await store.commit([PutApiKey(key), AppendAudit(second), PutModule(bad)])
    assert await store.audit.head() == first
    assert await store.keys.get(key.id) is None


async def test_a_transaction_reads_namespace_usage_as_it_stands(store: Store) -> None:
    """The view counts the modules and bytes of the namespaces asked for, earlier
    commits included (what quotas are checked against where several nodes write)."""
    a1 = make_record(namespace="a", wasm=unique_wasm("a1", 100))
    a2 = make_record(namespace="a", wasm=unique_wasm("a2", 50))
    b1 = make_record(namespace="b", wasm=unique_wasm("b1", 7))
    await store.commit([PutModule(a1), PutModule(a2), PutModule(b1)])
    seen: list[object] = []

    def work(view: StoreView) -> list[Change]:
        seen.append(view.namespace_usage(["a", "c"]))
        return []

    await store.transact(work)
    assert seen == [{"a": (2, 150)}]
