"""The InvocationStore contract, on every backend: create (idempotent by key), claim
what is due under a lease, renew, settle only while holding the lease, prune."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from wess.storage import Store
from wess.storage.invocations import InvocationRecord, InvocationState

T0 = datetime(2025, 6, 1, tzinfo=UTC)
MODULE = UUID("11111111-1111-4111-8111-111111111111")


def record(
    *, namespace: str = "default", key: str | None = None, at: datetime = T0
) -> InvocationRecord:
    return InvocationRecord(
        id=uuid4(),
        namespace=namespace,
        module_id=MODULE,
        function="sum",
        args=(1, 2),
        limits={"fuel": 1000},
        max_attempts=3,
        retry_on=("trap",),
        idempotency_key=key,
        created_at=at,
        updated_at=at,
        not_before=at,
    )


async def claim(store: Store, node: str, now: float, until: float, limit: int) -> list[Any]:
    """What ``node`` claims at ``later(now)``, leased until ``later(until)``."""
    return await store.invocations.claim(
        node=node, now=later(now), lease_until=later(until), limit=limit
    )


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_create_and_get_round_trip(store: Store) -> None:
    """A created invocation reads back field for field; an unknown id is None."""
    made = record()
    assert await store.invocations.create(made) == made
    assert await store.invocations.get(made.id) == made
    assert await store.invocations.get(uuid4()) is None


async def test_an_idempotency_key_answers_the_first_invocation_of_its_namespace(
    store: Store,
) -> None:
    """The same key in the same namespace keeps nothing new; in another it is new."""
    first = await store.invocations.create(record(key="k1"))
    again = await store.invocations.create(record(key="k1"))
    assert again.id == first.id
    other = await store.invocations.create(record(key="k1", namespace="team-b"))
    assert other.id != first.id
    assert await store.invocations.get(other.id) == other


async def test_claim_takes_what_is_due_once_earliest_first(store: Store) -> None:
    """Only invocations past their not_before are claimed, each once, up to limit."""
    first = await store.invocations.create(record(at=T0))
    second = await store.invocations.create(record(at=later(1)))
    future = await store.invocations.create(replace(record(), not_before=later(100)))
    taken = await claim(store, "a", 5, 35, 1)
    assert [r.id for r in taken] == [first.id]
    assert taken[0].state is InvocationState.RUNNING
    assert taken[0].attempts == 1
    assert taken[0].lease_owner == "a"
    taken = await claim(store, "b", 5, 35, 10)
    assert [r.id for r in taken] == [second.id]
    assert await claim(store, "b", 5, 35, 10) == []
    stored = await store.invocations.get(future.id)
    assert stored is not None
    assert stored.state is InvocationState.QUEUED


async def test_concurrent_claims_never_take_the_same_invocation(store: Store) -> None:
    """Two nodes claiming at once split the queue between them."""
    made = [await store.invocations.create(record()) for _ in range(6)]
    claims = await asyncio.gather(
        *(
            store.invocations.claim(node=node, now=later(1), lease_until=later(30), limit=6)
            for node in ("a", "b", "c")
        )
    )
    ids = [r.id for taken in claims for r in taken]
    assert sorted(ids) == sorted(r.id for r in made)


async def test_an_expired_lease_is_claimed_again_and_the_old_owner_cannot_settle(
    store: Store,
) -> None:
    """A node that stopped renewing loses the invocation; its late settle is refused."""
    made = await store.invocations.create(record())
    (held,) = await claim(store, "a", 1, 10, 5)
    assert await claim(store, "b", 9, 40, 5) == []
    (again,) = await claim(store, "b", 11, 40, 5)
    assert again.id == made.id
    assert again.attempts == 2
    late = replace(held, state=InvocationState.SUCCEEDED, result={"results": [3]})
    assert not await store.invocations.settle(late, node="a")
    done = replace(
        again, state=InvocationState.SUCCEEDED, result={"results": [3]}, expires_at=later(100)
    )
    assert await store.invocations.settle(done, node="b")
    stored = await store.invocations.get(made.id)
    assert stored == done
    assert stored.due is None
    assert await claim(store, "c", 1000, 2000, 5) == []


async def test_renew_extends_only_the_owners_leases(store: Store) -> None:
    """A renewed lease is not claimed when the old one would have ended."""
    await store.invocations.create(record())
    (held,) = await claim(store, "a", 1, 10, 5)
    await store.invocations.renew([held.id], node="b", lease_until=later(100))  # not b's
    await store.invocations.renew([held.id], node="a", lease_until=later(30))
    assert await claim(store, "b", 20, 50, 5) == []
    (taken,) = await claim(store, "b", 31, 50, 5)
    assert taken.lease_owner == "b"


async def test_a_retry_settles_back_into_the_queue(store: Store) -> None:
    """Settled as queued with a later not_before, it is claimed again only then."""
    await store.invocations.create(record())
    (held,) = await claim(store, "a", 1, 30, 5)
    retry = replace(
        held, state=InvocationState.QUEUED, not_before=later(20), lease_owner=None, lease_until=None
    )
    assert await store.invocations.settle(retry, node="a")
    assert await claim(store, "a", 10, 40, 5) == []
    (again,) = await claim(store, "a", 21, 40, 5)
    assert again.attempts == 2


async def test_prune_removes_expired_finished_invocations_and_frees_their_keys(
    store: Store,
) -> None:
    """Past expires_at a finished invocation is gone, and its idempotency key is free."""
    made = await store.invocations.create(record(key="once"))
    # due a second later, so the claim takes ``made`` (equal times order by id)
    kept = await store.invocations.create(record(at=later(1)))
    (held,) = await claim(store, "a", 1, 30, 1)
    assert held.id == made.id
    finished = replace(
        held, state=InvocationState.FAILED, error={"code": "trap"}, expires_at=later(50)
    )
    assert await store.invocations.settle(finished, node="a")
    assert await store.invocations.prune(now=later(49), limit=10) == 0
    assert await store.invocations.prune(now=later(50), limit=10) == 1
    assert await store.invocations.get(made.id) is None
    assert await store.invocations.get(kept.id) is not None
    fresh = await store.invocations.create(record(key="once"))
    assert fresh.id != made.id
