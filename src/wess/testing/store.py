"""``RecordingStore``: a real ``Store`` that records every call and can be disturbed.

Wrap any store (usually a ``MemoryStore``) to count calls by operation (``modules.get``,
``keys.list``, ``commit``, ``transact``...), keep what each commit applied, make calls
fail, or hold them at a gate to open a race window on purpose.
"""

from __future__ import annotations

import asyncio
import builtins
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

from wess.models import ApiKey, AuditEntry, ModuleInfo
from wess.storage.base import Change, Store, StoreView, Transaction
from wess.storage.modules import NamespaceUsage
from wess.storage.wrapping import WrappedStore


class Gate:
    """Where held calls wait: ``reached`` is set when one arrives, ``open`` lets every
    waiting and later call through."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self._opened = asyncio.Event()

    def open(self) -> None:
        self._opened.set()

    async def pass_through(self) -> None:
        self.reached.set()
        await self._opened.wait()


class RecordingStore(WrappedStore):
    """Delegates to ``inner``; see the module docstring.

    ``commit_error`` fails every commit (and the commit of every transaction that
    answers changes) before it reaches ``inner``; ``error_after_commit`` after, as when
    the disk took the write but the answer was lost. ``unreadable`` maps module ids that
    a transaction's view fails to read to the error it raises.
    """

    def __init__(self, inner: Store) -> None:
        super().__init__(inner, self._recorded)
        self.calls: Counter[str] = Counter()
        self.committed: builtins.list[builtins.list[Change]] = []
        """What every commit that reached ``inner`` applied, in order."""
        self.commit_sizes: builtins.list[int] = []
        self.commit_error: Exception | None = None
        self.error_after_commit: Exception | None = None
        self.unreadable: dict[UUID, Exception] = {}
        self._failures: dict[str, Exception] = {}
        self._gates: dict[str, tuple[Gate, bool]] = {}

    def fail(self, op: str, error: Exception | None) -> None:
        """Make every call of ``op`` (``"modules.get"``) raise ``error`` before it reaches
        ``inner``; None heals it."""
        if error is None:
            self._failures.pop(op, None)
        else:
            self._failures[op] = error

    def hold(self, op: str, *, after: bool = False) -> Gate:
        """Hold every call of ``op`` at a gate, before it reaches ``inner`` (or after
        ``inner`` answered, with ``after=True``), until the gate opens."""
        gate = Gate()
        self._gates[op] = (gate, after)
        return gate

    async def _recorded(
        self, op: str, call: Callable[[], Awaitable[Any]], args: tuple[Any, ...]
    ) -> Any:
        return await self.call(op, call)

    async def call(self, op: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``method`` as the recorded operation ``op``."""
        self.calls[op] += 1
        failure = self._failures.get(op)
        if failure is not None:
            raise failure
        gate, after = self._gates.get(op, (None, False))
        if gate is not None and not after:
            await gate.pass_through()
        result = await method(*args, **kwargs)
        if gate is not None and after:
            await gate.pass_through()
        return result

    async def commit(self, changes: Sequence[Change]) -> None:
        await self.call("commit", self._commit, builtins.list(changes))

    async def transact(self, work: Transaction) -> None:
        """Counted as ``transact``, and as a ``commit`` of what ``work`` answers (none
        when it answers nothing); the commit errors apply to it as to ``commit``."""
        changes: builtins.list[Change] = []

        def recorded(view: StoreView) -> builtins.list[Change]:
            changes.extend(work(_FailingView(view, self.unreadable)))
            if changes:
                self.calls["commit"] += 1
                self.commit_sizes.append(len(changes))
                if self.commit_error is not None:
                    raise self.commit_error
            return changes

        await self.call("transact", self.inner.transact, recorded)
        if changes:
            self.committed.append(changes)
            if self.error_after_commit is not None:
                raise self.error_after_commit

    async def ping(self) -> None:
        await self.call("ping", self.inner.ping)

    async def aclose(self) -> None:
        await self.call("aclose", self.inner.aclose)

    async def _commit(self, changes: builtins.list[Change]) -> None:
        self.commit_sizes.append(len(changes))
        if self.commit_error is not None:
            raise self.commit_error
        await self.inner.commit(changes)
        self.committed.append(changes)
        if self.error_after_commit is not None:
            raise self.error_after_commit


class _FailingView:
    """A transaction's view that fails to read the modules in ``unreadable``."""

    def __init__(self, view: StoreView, unreadable: dict[UUID, Exception]) -> None:
        self._view = view
        self._unreadable = unreadable

    def get_infos(self, module_ids: Sequence[UUID]) -> dict[UUID, ModuleInfo | None]:
        for module_id in module_ids:
            if module_id in self._unreadable:
                raise self._unreadable[module_id]
        return self._view.get_infos(module_ids)

    def get_api_key(self, key_id: str) -> ApiKey | None:
        return self._view.get_api_key(key_id)

    def find_names(self, names: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UUID | None]:
        return self._view.find_names(names)

    def namespace_usage(self, namespaces: Sequence[str]) -> NamespaceUsage:
        return self._view.namespace_usage(namespaces)

    def audit_head(self) -> AuditEntry | None:
        return self._view.audit_head()
