"""Sharing a pool fairly between namespaces: caps, turns and refusal.

The invocation threads and the compile workers are each shared by every namespace.
Served first come, first served, one tenant that sends many slow calls (infinite
loops that run to their timeout, modules that take seconds to compile) holds every
thread and everyone else waits behind it. So each pool is shared by this rule:

- **cap**: a namespace runs at most ``share`` calls on the pool at once (by default
  half the pool, at least one: ``pool.fair_share``), even when nobody else is asking.
  A running guest cannot be taken off its thread before its timeout, so a thread
  lent to a namespace while others are idle is exactly the thread the next tenant
  would wait for; the other half stays free for them instead. (With the default two
  invocation threads per core, half the pool still keeps every core busy.)
- **bound**: a namespace has at most ``share + queue`` calls in (waiting for
  anything, or running); one more is refused at once with ``NamespaceBusy`` (503 and
  ``Retry-After``), so one tenant's backlog never fills the queues everyone shares.
- **turns**: when a slot frees, namespaces with calls waiting are served in turn
  (round robin, each namespace's own calls first come, first served), skipping any
  at its cap; a namespace that took a slot goes to the back of the line. Every call
  costs one slot however long it runs, so deficit round robin reduces to this.

So a namespace that asks while another holds its full share finds free slots at
once: fewer than ``slots / share`` namespaces saturating a pool never delay another.
More than that can fill it (each holding its share); a newcomer is then next in
line for the first slot that frees, ahead of the saturating namespaces' backlogs.

``FairShare`` is the rule alone: plain synchronous bookkeeping with no event loop,
clock or thread, whose waiters are opaque tokens. ``FairPool`` puts it in front of a
thread pool: ``submit`` waits for a turn, then runs the function on a thread, which
never queues inside the executor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, ParamSpec, TypeVar

from wess.errors import NamespaceBusy
from wess.workers.deadline import QUEUE, Deadline

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


@dataclass(slots=True)
class _Tenant(Generic[T]):
    running: int = 0
    waiting: deque[T] = field(default_factory=deque)


class FairShare(Generic[T]):
    """``slots`` shared between namespaces by the rule of the module docstring.

    A call goes ``enter`` (counted in, or ``NamespaceBusy``), ``claim`` (a slot now,
    or its ``waiter`` queued), then ``release`` (which names the waiter that takes the
    freed slot, if any) and ``leave``. ``withdraw`` takes back a waiter that gave up.
    ``what`` names the calls and the settings in the refusal's message.
    """

    def __init__(
        self, *, slots: int, share: int, queue: int, what: str, settings: str, retry_after: int = 1
    ) -> None:
        if slots < 1 or share < 1 or queue < 0:
            raise ValueError("slots and share must be >= 1 and queue >= 0")
        self.slots = slots
        self.share = min(share, slots)
        self.queue = queue
        self._what = what
        self._settings = settings
        self._retry_after = retry_after
        self._inside: dict[str, int] = {}
        self._tenants: dict[str, _Tenant[T]] = {}
        self._turns: deque[str] = deque()  # namespaces with waiters, in the order served
        self._busy = 0

    # -- state --------------------------------------------------------------------------------

    @property
    def busy(self) -> int:
        """Slots in use."""
        return self._busy

    def inside(self, namespace: str) -> int:
        """Calls of ``namespace`` counted in: waiting for anything, or running."""
        return self._inside.get(namespace, 0)

    def running(self, namespace: str) -> int:
        """Slots ``namespace`` holds."""
        tenant = self._tenants.get(namespace)
        return tenant.running if tenant is not None else 0

    def waiting(self, namespace: str) -> int:
        """Calls of ``namespace`` waiting for a slot."""
        tenant = self._tenants.get(namespace)
        return len(tenant.waiting) if tenant is not None else 0

    # -- a call's way through -----------------------------------------------------------------

    def enter(self, namespace: str) -> None:
        """Count a call of ``namespace`` in; ``NamespaceBusy`` when it already has
        ``share + queue`` in."""
        inside = self._inside.get(namespace, 0)
        if inside >= self.share + self.queue:
            raise NamespaceBusy(
                f"namespace {namespace!r} already has {inside} {self._what} waiting or "
                f"running, the most one namespace may have while the pool is shared "
                f"({self._settings}); retry later",
                retry_after=self._retry_after,
                queue=f"namespace_{self._what}",
            )
        self._inside[namespace] = inside + 1

    def leave(self, namespace: str) -> None:
        """A call of ``namespace`` is out (it ran, failed, or gave up)."""
        inside = self._inside[namespace] - 1
        if inside:
            self._inside[namespace] = inside
        else:
            del self._inside[namespace]

    def claim(self, namespace: str, waiter: T) -> bool:
        """True: ``namespace`` holds one more slot from now on. False: ``waiter`` waits
        for its turn, and a later ``release`` names it when the slot is its."""
        tenant = self._tenants.get(namespace)
        if tenant is None:
            tenant = self._tenants[namespace] = _Tenant()
        # No waiter is ever below its cap while a slot is free (release hands each
        # freed slot on), so a free slot may go to whoever asks, if under its cap.
        if self._busy < self.slots and tenant.running < self.share:
            tenant.running += 1
            self._busy += 1
            return True
        if not tenant.waiting:
            self._turns.append(namespace)
        tenant.waiting.append(waiter)
        return False

    def release(self, namespace: str) -> tuple[str, T] | None:
        """A slot of ``namespace`` is free: the (namespace, waiter) whose turn it is,
        now holding the slot, or None (the slot stays free)."""
        tenant = self._tenants[namespace]
        tenant.running -= 1
        self._busy -= 1
        granted = self._next_turn()
        self._forget_if_idle(namespace)
        return granted

    def withdraw(self, namespace: str, waiter: T) -> None:
        """Take back ``waiter``, which gave up before its turn came (nothing to do if
        ``release`` named it meanwhile: the slot is then the caller's to release)."""
        tenant = self._tenants.get(namespace)
        if tenant is None or waiter not in tenant.waiting:
            return
        tenant.waiting.remove(waiter)
        if not tenant.waiting:
            self._turns.remove(namespace)
        self._forget_if_idle(namespace)

    def _next_turn(self) -> tuple[str, T] | None:
        for _ in range(len(self._turns)):
            namespace = self._turns[0]
            tenant = self._tenants[namespace]
            if tenant.running < self.share:
                self._turns.popleft()
                waiter = tenant.waiting.popleft()
                if tenant.waiting:
                    self._turns.append(namespace)  # to the back of the line
                tenant.running += 1
                self._busy += 1
                return namespace, waiter
            self._turns.rotate(-1)  # at its cap: keeps its place in the cycle
        return None

    def _forget_if_idle(self, namespace: str) -> None:
        tenant = self._tenants.get(namespace)
        if tenant is not None and tenant.running == 0 and not tenant.waiting:
            del self._tenants[namespace]


class FairPool:
    """A thread pool whose threads are shared between namespaces by a ``FairShare``.

    ``submit`` waits for the namespace's turn and hands the function to a thread; the
    caller gives the slot back with ``release_when_done`` (at once, or when the thread
    really ends if the caller stopped waiting: the guest or the compile goes on until
    its own limit). ``call`` does all of it, ``enter`` and ``leave`` included. Use
    ``start`` and ``stop``.
    """

    def __init__(self, share: FairShare[asyncio.Future[None]], *, name: str) -> None:
        self.share = share
        self._name = name
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(
            self.share.slots, thread_name_prefix=f"wess-{self._name}"
        )

    async def stop(self) -> None:
        """Stop taking work and wait for the threads to finish theirs."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    @property
    def running(self) -> bool:
        return self._executor is not None

    async def call(
        self, namespace: str, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """``function(*args)`` on a thread, in ``namespace``'s turn: ``NamespaceBusy``
        when the namespace has its most calls in already."""
        self.share.enter(namespace)
        submitted: Future[R] | None = None
        try:
            submitted = await self.submit(namespace, partial(function, *args, **kwargs))
            return await asyncio.wrap_future(submitted)
        finally:
            after(submitted, partial(self._done, namespace, submitted is not None))

    async def submit(
        self, namespace: str, function: Callable[[], R], *, deadline: Deadline | None = None
    ) -> Future[R]:
        """``function`` started on a thread once a slot is ``namespace``'s; the caller
        has entered, and calls ``release(namespace)`` once the future is done. Waiting
        for the slot lasts at most until ``deadline`` (``DeadlineExceeded``, ``queue``)."""
        executor = self._executor
        if executor is None:
            raise RuntimeError(f"the {self._name} pool is not running")
        await self._take(namespace, deadline)
        try:
            return executor.submit(function)
        except BaseException:
            self.release(namespace)
            raise

    def release(self, namespace: str) -> None:
        """Give a slot of ``namespace`` back; the next in turn gets it."""
        granted = self.share.release(namespace)
        while granted is not None:
            namespace, turn = granted
            if not turn.done():
                turn.set_result(None)
                return
            # Its task was cancelled before it could withdraw: the slot passes on.
            granted = self.share.release(namespace)

    async def _take(self, namespace: str, deadline: Deadline | None = None) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.share.claim(namespace, turn):
            return
        bound: AbstractAsyncContextManager[None] = (
            contextlib.nullcontext() if deadline is None else deadline.bounded(QUEUE)
        )
        async with bound:
            try:
                await turn  # release() hands its slot over: the slot is already counted ours
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self.release(namespace)  # the slot came as we gave up: pass it on
                else:  # still waiting, or passed over by release() already
                    self.share.withdraw(namespace, turn)
                raise

    def _done(self, namespace: str, took_slot: bool) -> None:
        if took_slot:
            self.release(namespace)
        self.share.leave(namespace)


def after(future: Future[R] | None, callback: Callable[[], None]) -> None:
    """``callback()`` now if ``future`` is None or done, else on this event loop once
    the thread running it ends."""
    if future is None or future.done():
        callback()
        return
    loop = asyncio.get_running_loop()
    future.add_done_callback(lambda _: _call_soon(loop, callback))


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is counting any more
        loop.call_soon_threadsafe(callback)
