"""AsyncInvocations over the real service, a memory invocation store and a fake clock:
results, retries with backoff, the dead-letter state, idempotency, leases, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from tests.fixtures import wasm
from wess.errors import InvalidRequest, InvocationNotFound, ModuleNotFound
from wess.invocations import AsyncInvocations, InvocationSettings, RetryPolicy, backoff
from wess.storage.invocations import InvocationState, MemoryInvocations
from wess.testing import FakeClock, open_client, test_settings

SETTINGS = InvocationSettings(retention=600, lease=30, backoff_initial=1, backoff_max=60)


@dataclass
class Setup:
    invocations: AsyncInvocations
    store: MemoryInvocations
    clock: FakeClock
    modules: dict[str, Any]

    def worker(self, node: str) -> AsyncInvocations:
        """Another node's worker on the same queue."""
        return AsyncInvocations(
            self.store,
            self.invocations._service,
            node=node,
            clock=self.clock,
            settings=SETTINGS,
        )


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    async with open_client(test_settings()) as client:
        modules = {}
        for name in ("sum", "traps"):
            response = await client.post(
                "/v1/modules", content=wasm(name), headers={"content-type": "application/wasm"}
            )
            modules[name] = response.json()
        store = MemoryInvocations()
        clock = FakeClock()
        invocations = AsyncInvocations(
            store, client.state.service, node="a", clock=clock, settings=SETTINGS
        )
        yield Setup(invocations, store, clock, modules)


def uuid_of(document: dict[str, Any]) -> Any:
    from uuid import UUID

    return UUID(document["id"])


async def test_an_invocation_is_queued_then_run_and_its_result_kept(setup: Setup) -> None:
    """Queued when submitted; one poll runs it; succeeded with the run's answer."""
    record, created = await setup.invocations.submit(
        uuid_of(setup.modules["sum"]), namespace=None, function="sum", args=[2, 3]
    )
    assert created
    assert record.state is InvocationState.QUEUED
    assert (await setup.store.get(record.id)) == record  # durable before the answer
    assert [r.id for r in await setup.invocations.poll()] == [record.id]
    await setup.invocations.drain()
    done = await setup.invocations.get(record.id, namespace="default")
    assert done.state is InvocationState.SUCCEEDED
    assert done.result is not None
    assert done.result["results"] == [5]
    assert done.attempts == 1
    assert done.expires_at == setup.clock.now + timedelta(seconds=SETTINGS.retention)
    with pytest.raises(InvocationNotFound):
        await setup.invocations.get(record.id, namespace="team-b")


async def test_retryable_failures_back_off_then_go_dead(setup: Setup) -> None:
    """A trap marked retryable is tried again after 1 s, then 2 s; the third attempt's
    failure is the dead-letter state, with the error."""
    record, _ = await setup.invocations.submit(
        uuid_of(setup.modules["traps"]),
        namespace=None,
        function="div",
        args=[1, 0],
        retry=RetryPolicy(attempts=3, on=("trap",)),
    )
    invocations = setup.invocations
    for attempt, wait in ((1, 1.0), (2, 2.0)):
        assert len(await invocations.poll()) == 1
        await invocations.drain()
        current = await invocations.get(record.id, namespace=None)
        assert current.state is InvocationState.QUEUED
        assert current.attempts == attempt
        assert current.error is not None
        assert current.error["code"] == "trap"
        assert current.not_before == setup.clock.now + timedelta(seconds=wait)
        setup.clock.advance(wait - 0.5)
        assert await invocations.poll() == []  # still backing off
        setup.clock.advance(0.5)
    assert len(await invocations.poll()) == 1
    await invocations.drain()
    dead = await invocations.get(record.id, namespace=None)
    assert dead.state is InvocationState.DEAD
    assert dead.attempts == 3
    assert dead.error is not None
    assert dead.error["code"] == "trap"


async def test_a_failure_not_marked_retryable_fails_at_once(setup: Setup) -> None:
    """Without retry.on naming it, a trap fails the invocation on its first attempt."""
    record, _ = await setup.invocations.submit(
        uuid_of(setup.modules["traps"]),
        namespace=None,
        function="div",
        args=[1, 0],
        retry=RetryPolicy(attempts=3, on=("timeout",)),
    )
    await setup.invocations.poll()
    await setup.invocations.drain()
    failed = await setup.invocations.get(record.id, namespace=None)
    assert failed.state is InvocationState.FAILED
    assert failed.attempts == 1


async def test_an_idempotency_key_answers_the_same_invocation(setup: Setup) -> None:
    """The same key in the same namespace is the same invocation, queued once."""
    module = uuid_of(setup.modules["sum"])
    first, created = await setup.invocations.submit(
        module, namespace=None, function="sum", args=[1, 1], idempotency_key="order-7"
    )
    again, created_again = await setup.invocations.submit(
        module, namespace=None, function="sum", args=[1, 1], idempotency_key="order-7"
    )
    assert created
    assert not created_again
    assert again.id == first.id
    assert len(await setup.invocations.poll()) == 1


async def test_what_cannot_run_is_refused_before_it_is_queued(setup: Setup) -> None:
    """An unknown module, or a retry policy past the bounds, queues nothing."""
    from uuid import uuid4

    with pytest.raises(ModuleNotFound):
        await setup.invocations.submit(uuid4(), namespace=None, function=None, args=[])
    with pytest.raises(InvalidRequest):
        await setup.invocations.submit(
            uuid_of(setup.modules["sum"]),
            namespace=None,
            function="sum",
            args=[1, 2],
            retry=RetryPolicy(attempts=3, on=("invalid_arguments",)),
        )
    assert await setup.invocations.poll() == []


async def test_a_dead_nodes_invocation_is_taken_again_after_its_lease(setup: Setup) -> None:
    """Node b claims and dies (never settles, never renews); node a takes the
    invocation only once b's lease has ended, and finishes it."""
    record, _ = await setup.invocations.submit(
        uuid_of(setup.modules["sum"]), namespace=None, function="sum", args=[4, 4]
    )
    (taken,) = await setup.store.claim(
        node="b",
        now=setup.clock.now,
        lease_until=setup.clock.now + timedelta(seconds=SETTINGS.lease),
        limit=1,
    )
    assert taken.id == record.id
    setup.clock.advance(SETTINGS.lease - 1)
    assert await setup.invocations.poll() == []
    setup.clock.advance(1)
    assert len(await setup.invocations.poll()) == 1
    await setup.invocations.drain()
    done = await setup.invocations.get(record.id, namespace=None)
    assert done.state is InvocationState.SUCCEEDED
    assert done.attempts == 2


async def test_finished_invocations_are_pruned_after_the_retention(setup: Setup) -> None:
    """Kept for invocations.retention after finishing, then gone (404)."""
    record, _ = await setup.invocations.submit(
        uuid_of(setup.modules["sum"]), namespace=None, function="sum", args=[1, 2]
    )
    await setup.invocations.poll()
    await setup.invocations.drain()
    setup.clock.advance(SETTINGS.retention - 1)
    await setup.invocations.poll()
    assert (await setup.invocations.get(record.id, namespace=None)).finished
    setup.clock.advance(1)
    await setup.invocations.poll()
    with pytest.raises(InvocationNotFound):
        await setup.invocations.get(record.id, namespace=None)


def test_backoff_doubles_up_to_its_bound() -> None:
    """1, 2, 4 ... seconds, never past backoff_max."""
    assert [backoff(n, SETTINGS) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(30, SETTINGS) == SETTINGS.backoff_max


async def test_nodes_sharing_postgresql_split_the_queue_and_take_over_a_dead_one(
    setup: Setup, tmp_path
) -> None:
    """Two workers on one PostgreSQL queue: each invocation runs once; the one a dead
    node held is taken by a live one after the lease."""
    from tests.storage.conftest import opened

    pair = replace(SETTINGS, concurrency=2)  # each node takes two at a time
    async with opened("postgresql", tmp_path) as store:
        service = setup.invocations._service
        a, b = (
            AsyncInvocations(
                store.invocations, service, node=node, clock=setup.clock, settings=pair
            )
            for node in ("a", "b")
        )
        module = uuid_of(setup.modules["sum"])
        made = [
            (await a.submit(module, namespace=None, function="sum", args=[i, 1]))[0]
            for i in range(4)
        ]
        dead = await store.invocations.claim(
            node="gone",
            now=setup.clock.now,
            lease_until=setup.clock.now + timedelta(seconds=SETTINGS.lease),
            limit=1,
        )
        first, second = await a.poll(), await b.poll()
        assert len(first) == 2  # a took its two, b the one left
        assert len(second) == 1
        taken = first + second
        await a.drain()
        await b.drain()
        assert sorted(r.id for r in taken + dead) == sorted(r.id for r in made)
        setup.clock.advance(SETTINGS.lease)
        assert [r.id for r in await b.poll()] == [dead[0].id]
        await b.drain()
        for record in made:
            done = await b.get(record.id, namespace=None)
            assert done.state is InvocationState.SUCCEEDED
            assert done.result is not None
            assert done.result["results"] == [record.args[0] + 1]


async def test_stopping_queues_what_was_running_again(setup: Setup) -> None:
    """A worker that stops mid-attempt puts the invocation back in the queue at once,
    for any node to take, rather than leaving it to its lease."""
    record, _ = await setup.invocations.submit(
        uuid_of(setup.modules["traps"]), namespace=None, function="spin", args=[]
    )
    assert len(await setup.invocations.poll()) == 1
    await setup.invocations.__aexit__(None, None, None)
    again = await setup.store.get(record.id)
    assert again is not None
    assert again.state is InvocationState.QUEUED
    assert again.lease_owner is None
    assert again.not_before == setup.clock.now
    other = setup.worker("b")
    (taken,) = await other.poll()
    assert taken.id == record.id
    await other.__aexit__(None, None, None)
