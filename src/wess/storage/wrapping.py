"""``WrappedStore``: a ``Store`` whose every concept-store call goes through one function.

What a wrapper adds to a store (metrics, recording, faults in tests) is the same for
every method of every concept; ``WrappedStore`` holds the five concept stores as
proxies that send each async call through ``around(op, call)``, where ``op`` is
``"<concept>.<method>"`` (``"modules.get"``). A method added to a concept Protocol is
wrapped without a line here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

from wess.storage.admin import StoreAdmin
from wess.storage.audit import AuditStore
from wess.storage.base import Store
from wess.storage.events import ChangeFeed
from wess.storage.invocations import InvocationStore
from wess.storage.keys import ApiKeyStore
from wess.storage.kv import KvStore
from wess.storage.modules import ModuleStore
from wess.storage.nodes import NodeStore
from wess.storage.usage import UsageStore

CHANGING_OPS = frozenset(
    {
        "admin.rewrap",
        "invocations.create",
        "invocations.claim",
        "invocations.renew",
        "invocations.settle",
        "invocations.prune",
        "kv.put",
        "kv.delete",
    }
)
"""The concept-store methods that change the store; every other one only reads. (The
whole-store ``commit`` and ``transact`` change it too.) A wrapper that treats reads and
writes apart (retries, breakers) asks here."""

Around = Callable[[str, Callable[[], Awaitable[Any]], tuple[Any, ...]], Awaitable[Any]]
"""``around(op, call, args)``: run ``call()`` (the inner method, bound to its arguments
``args``) as the operation ``op``, and answer what it answers."""


class ConceptProxy:
    """A concept store whose async methods run through ``around``. A method's wrapper is
    made on first use and kept on the instance, so later calls skip ``__getattr__``."""

    def __init__(self, inner: object, concept: str, around: Around) -> None:
        self._inner = inner
        self._concept = concept
        self._around = around

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if name.startswith("_") or not asyncio.iscoroutinefunction(method):
            return method
        op = f"{self._concept}.{name}"
        around = self._around

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            return await around(op, lambda: method(*args, **kwargs), args)

        setattr(self, name, wrapped)
        return wrapped


class WrappedStore:
    """The concept stores of ``inner``, each call through ``around``. Subclasses add
    ``commit``, ``transact``, ``ping`` and ``aclose`` (the whole-store operations)."""

    def __init__(self, inner: Store, around: Around) -> None:
        self._inner = inner
        self._modules = cast(ModuleStore, ConceptProxy(inner.modules, "modules", around))
        self._keys = cast(ApiKeyStore, ConceptProxy(inner.keys, "keys", around))
        self._audit = cast(AuditStore, ConceptProxy(inner.audit, "audit", around))
        self._usage = cast(UsageStore, ConceptProxy(inner.usage, "usage", around))
        self._admin = cast(StoreAdmin, ConceptProxy(inner.admin, "admin", around))
        self._nodes = cast(NodeStore, ConceptProxy(inner.nodes, "nodes", around))
        self._invocations = cast(
            InvocationStore, ConceptProxy(inner.invocations, "invocations", around)
        )
        self._kv = cast(KvStore, ConceptProxy(inner.kv, "kv", around))

    @property
    def inner(self) -> Store:
        """The wrapped store."""
        return self._inner

    def feed(self) -> ChangeFeed | None:
        return self._inner.feed()

    @property
    def modules(self) -> ModuleStore:
        return self._modules

    @property
    def keys(self) -> ApiKeyStore:
        return self._keys

    @property
    def audit(self) -> AuditStore:
        return self._audit

    @property
    def usage(self) -> UsageStore:
        return self._usage

    @property
    def admin(self) -> StoreAdmin:
        return self._admin

    @property
    def nodes(self) -> NodeStore:
        return self._nodes

    @property
    def invocations(self) -> InvocationStore:
        return self._invocations

    @property
    def kv(self) -> KvStore:
        return self._kv
