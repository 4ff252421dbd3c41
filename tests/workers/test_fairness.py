"""Fair sharing of a pool between namespaces: caps, turns, refusal (``FairShare``), and
the thread pool behind it (``FairPool``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from tests.support import until
from wess.errors import NamespaceBusy, Overloaded
from wess.workers.fairness import FairPool, FairShare


def share(*, slots: int, share: int, queue: int = 10) -> FairShare[str]:
    return FairShare(slots=slots, share=share, queue=queue, what="calls", settings="x.y")


def admit(fair: FairShare[str], namespace: str, waiter: str) -> bool:
    fair.enter(namespace)
    return fair.claim(namespace, waiter)


def served(fair: FairShare[str], releases: list[str]) -> list[str]:
    """The waiters that get the slots freed by ``releases``, in order."""
    order = []
    for namespace in releases:
        granted = fair.release(namespace)
        assert granted is not None
        order.append(granted[1])
    return order


# -- the rule, pure ---------------------------------------------------------------------------


def test_a_namespace_holds_at_most_its_share_even_alone():
    """Past its share a namespace's calls wait, though slots are free: the free half is
    what another namespace finds when it comes."""
    fair = share(slots=4, share=2)
    assert [admit(fair, "b", f"b{i}") for i in range(4)] == [True, True, False, False]
    assert (fair.running("b"), fair.waiting("b"), fair.busy) == (2, 2, 2)


def test_a_newcomer_runs_at_once_beside_a_saturating_namespace():
    """While b holds its whole share and has a backlog, a's first call gets a slot now."""
    fair = share(slots=4, share=2)
    for i in range(6):
        admit(fair, "b", f"b{i}")
    assert admit(fair, "a", "a0") is True
    assert (fair.running("a"), fair.running("b"), fair.waiting("b")) == (1, 2, 4)


def test_namespaces_are_served_in_turn_not_first_come_first_served():
    """Freed slots go round the namespaces that wait (b, c, a), each one's own calls in
    order: b1 c1 a1 b2 c2, where first come, first served would give b1 b2 c1 c2 a1."""
    fair = share(slots=1, share=1)
    assert admit(fair, "a", "a0") is True
    for waiter in ("b1", "b2", "c1", "c2", "a1"):
        assert admit(fair, waiter[0], waiter) is False
    assert served(fair, ["a", "b", "c", "a", "b"]) == ["b1", "c1", "a1", "b2", "c2"]
    assert fair.release("c") is None
    assert fair.busy == 0


def test_a_namespace_at_its_cap_is_skipped_and_keeps_its_place():
    """A freed slot passes over a namespace already at its share to the next in line;
    the skipped namespace is first when one of its own calls ends."""
    fair = share(slots=3, share=2)
    assert [admit(fair, "b", "b0"), admit(fair, "b", "b1"), admit(fair, "a", "a0")] == [True] * 3
    assert admit(fair, "b", "b2") is False
    assert admit(fair, "a", "a1") is False
    assert served(fair, ["a"]) == ["a1"]  # b waited longer, but holds its share
    assert served(fair, ["b"]) == ["b2"]


def test_past_share_plus_queue_a_namespace_is_refused_and_others_are_not():
    """The (share + queue + 1)th call of one namespace is NamespaceBusy, a 503 with a
    Retry-After naming the settings; another namespace still enters."""
    fair = share(slots=4, share=2, queue=1)
    for i in range(3):
        admit(fair, "b", f"b{i}")
    with pytest.raises(NamespaceBusy) as refused:
        fair.enter("b")
    assert isinstance(refused.value, Overloaded)
    assert refused.value.code == "namespace_busy"
    assert refused.value.retry_after >= 1
    assert "'b'" in refused.value.detail
    assert "x.y" in refused.value.detail
    assert fair.inside("b") == 3
    fair.enter("a")
    fair.leave("b")
    fair.enter("b")  # one out, one in


def test_a_withdrawn_waiter_is_never_served():
    """A waiter that gave up is taken out of the line, and its namespace with it."""
    fair = share(slots=1, share=1)
    admit(fair, "a", "a0")
    admit(fair, "b", "b1")
    admit(fair, "c", "c1")
    fair.withdraw("b", "b1")
    fair.withdraw("b", "b1")  # already gone: nothing to do
    assert fair.waiting("b") == 0
    assert served(fair, ["a"]) == ["c1"]


def test_an_idle_namespace_leaves_nothing_behind():
    """Once every call of a namespace has left, it holds no state: memory follows the load."""
    fair = share(slots=2, share=1)
    for n in range(100):
        namespace = f"ns{n}"
        admit(fair, namespace, "w")
        assert fair.release(namespace) is None
        fair.leave(namespace)
    assert (fair.busy, fair._inside, fair._tenants, list(fair._turns)) == (0, {}, {}, [])


def test_a_share_larger_than_the_pool_is_the_pool():
    """A configured share above the pool's size means the whole pool."""
    assert share(slots=2, share=5).share == 2


@pytest.mark.parametrize(("slots", "share_", "queue"), [(0, 1, 0), (1, 0, 0), (1, 1, -1)])
def test_nonsense_sizes_are_refused(slots, share_, queue):
    """No slots, no share or a negative queue cannot serve anyone."""
    with pytest.raises(ValueError, match="slots and share"):
        FairShare(slots=slots, share=share_, queue=queue, what="calls", settings="")


# -- the pool ---------------------------------------------------------------------------------


@pytest.fixture
async def pool() -> AsyncIterator[FairPool]:
    pool = FairPool(FairShare(slots=4, share=2, queue=2, what="calls", settings="x"), name="test")
    pool.start()
    yield pool
    await pool.stop()


async def test_a_saturating_namespace_does_not_hold_up_another(pool: FairPool):
    """b's calls block their threads; b's third and fourth wait, its fifth is refused,
    and a's call runs and returns while b's first two still hold their threads."""
    gate = threading.Event()
    try:
        b_calls = [asyncio.create_task(pool.call("b", gate.wait)) for _ in range(4)]
        await until(lambda: pool.share.running("b") == 2, "b holds its share")
        await until(lambda: pool.share.waiting("b") == 2, "b's third and fourth wait")
        with pytest.raises(NamespaceBusy):
            await pool.call("b", gate.wait)
        assert await pool.call("a", threading.get_ident) != threading.get_ident()
        assert pool.share.running("b") == 2
        assert not any(task.done() for task in b_calls)
    finally:
        gate.set()
    assert await asyncio.gather(*b_calls) == [True] * 4
    assert (pool.share.busy, pool.share.inside("b")) == (0, 0)


async def test_a_caller_that_gives_up_keeps_the_slot_until_its_thread_ends(pool: FairPool):
    """Cancelling a call whose function runs does not free its slot early: the thread is
    still busy, so the share counts it until it really ends."""
    gate = threading.Event()
    try:
        running = asyncio.create_task(pool.call("b", gate.wait))
        await until(lambda: pool.share.running("b") == 1, "running")
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert (pool.share.running("b"), pool.share.inside("b")) == (1, 1)
    finally:
        gate.set()
    await until(lambda: pool.share.busy == 0, "the thread ended")
    assert pool.share.inside("b") == 0


async def test_a_waiter_cancelled_before_its_turn_leaves_the_line(pool: FairPool):
    """A call that gives up while waiting is withdrawn; the next in line gets the slot."""
    gate = threading.Event()
    try:
        holders = [asyncio.create_task(pool.call("b", gate.wait)) for _ in range(2)]
        await until(lambda: pool.share.running("b") == 2, "b at its share")
        quitter = asyncio.create_task(pool.call("b", gate.wait))
        stayer = asyncio.create_task(pool.call("b", lambda: "stayed"))
        await until(lambda: pool.share.waiting("b") == 2, "two waiting")
        quitter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await quitter
        assert pool.share.waiting("b") == 1
    finally:
        gate.set()
    assert await stayer == "stayed"
    await asyncio.gather(*holders)
    assert (pool.share.busy, pool.share.inside("b")) == (0, 0)


async def test_a_turn_granted_as_its_waiter_gives_up_passes_on(pool: FairPool):
    """A waiter cancelled in the same loop step as its slot arrives hands the slot to the
    next in line rather than leaking it."""
    for token in ("held-1", "held-2"):  # b's share, held without threads
        pool.share.enter("b")
        assert pool.share.claim("b", token)
    quitter = asyncio.create_task(pool.call("b", lambda: "quitter"))
    stayer = asyncio.create_task(pool.call("b", lambda: "stayer"))
    await until(lambda: pool.share.waiting("b") == 2, "two waiting")
    pool.release("b")  # the slot is the quitter's now ...
    quitter.cancel()  # ... and it gives up before it could use it
    with pytest.raises(asyncio.CancelledError):
        await quitter
    assert await stayer == "stayer"
    pool.release("b")
    pool.share.leave("b")
    pool.share.leave("b")
    assert (pool.share.busy, pool.share.inside("b")) == (0, 0)


async def test_a_stopped_pool_refuses_work():
    """Calling a pool that is not started is a programming error, said plainly."""
    pool = FairPool(FairShare(slots=1, share=1, queue=0, what="calls", settings=""), name="idle")
    with pytest.raises(RuntimeError, match="not running"):
        await pool.call("a", lambda: None)
    assert pool.share.inside("a") == 0
