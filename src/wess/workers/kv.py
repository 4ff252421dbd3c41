"""``KeyValues``: the key-value state of each namespace, bounded, for guests and owners.

One object serves both sides of ``wess:kv@1``: the owner's ``/v1/kv`` API (async
methods) and the guests' host calls (``access``: a blocking ``KvAccess`` for one call,
run on an invocation thread). A host call reaches the asynchronous store through the
event loop (``run_coroutine_threadsafe``) and waits at most ``call_timeout`` for it
(``UNAVAILABLE`` past it), so a slow store holds a guest's thread for a bounded time
and never the loop. Keys, values and each namespace's total bytes are bounded
(``KvLimits``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from wess.errors import InvalidRequest, PayloadTooLarge, QuotaExceeded, WessError
from wess.runtime.kv import INVALID, QUOTA, TOO_LARGE, UNAVAILABLE, KvAccess, KvFailure
from wess.storage.kv import KvStore

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class KvLimits:
    max_key: int = 512
    """Bytes of UTF-8 in a key."""
    max_value: int = 1 << 20
    max_namespace: int = 64 << 20
    """Bytes of keys and values together in one namespace (its quota)."""
    max_list: int = 1000
    """Keys one ``list`` answers at most."""
    call_timeout: float = 1.0
    """Seconds one host call waits for the store."""


def check_key(key: str, *, limit: int) -> None:
    """``InvalidRequest`` unless ``key`` is 1 to ``limit`` bytes of UTF-8 without
    control characters."""
    size = len(key.encode())
    if not 1 <= size <= limit or not key.isprintable():
        raise InvalidRequest(
            f"a key is 1 to {limit} bytes of UTF-8 without control characters (kv.max_key_bytes)",
            field="key",
        )


class KeyValues:
    """The bounded key-value state over ``store`` (``async with`` not needed)."""

    def __init__(self, store: KvStore, *, limits: KvLimits | None = None) -> None:
        self._store = store
        self.limits = limits or KvLimits()

    # -- the owner's side ---------------------------------------------------------------------

    async def get(self, namespace: str, key: str) -> bytes | None:
        check_key(key, limit=self.limits.max_key)
        return await self._store.get(namespace, key)

    async def put(self, namespace: str, key: str, value: bytes) -> None:
        check_key(key, limit=self.limits.max_key)
        if len(value) > self.limits.max_value:
            raise PayloadTooLarge(
                f"the value is {len(value)} bytes; at most {self.limits.max_value} are "
                "accepted (kv.max_value_bytes)",
                limit=self.limits.max_value,
            )
        await self._store.put(namespace, key, value, quota=self.limits.max_namespace)

    async def delete(self, namespace: str, key: str) -> bool:
        check_key(key, limit=self.limits.max_key)
        return await self._store.delete(namespace, key)

    async def list(
        self, namespace: str, *, prefix: str = "", after: str | None = None, limit: int
    ) -> list[str]:
        return await self._store.list(
            namespace, prefix=prefix, after=after, limit=min(limit, self.limits.max_list)
        )

    async def usage(self, namespace: str) -> int:
        return await self._store.usage(namespace)

    # -- the guests' side ---------------------------------------------------------------------

    def access(self, namespace: str, loop: asyncio.AbstractEventLoop) -> KvAccess:
        """The blocking store of one call in ``namespace``, for a thread other than
        ``loop``'s (whose loop runs the store's calls)."""
        return _GuestKv(self, namespace, loop)


class _GuestKv:
    """``KvAccess`` of one call: each method a bounded wait on the event loop."""

    __slots__ = ("_loop", "_namespace", "_values")

    def __init__(self, values: KeyValues, namespace: str, loop: asyncio.AbstractEventLoop) -> None:
        self._values = values
        self._namespace = namespace
        self._loop = loop

    def get(self, key: bytes) -> bytes | None:
        return self._wait(self._values.get(self._namespace, _text(key)))

    def set(self, key: bytes, value: bytes) -> None:
        self._wait(self._values.put(self._namespace, _text(key), value))

    def delete(self, key: bytes) -> bool:
        return self._wait(self._values.delete(self._namespace, _text(key)))

    def keys(self, prefix: bytes) -> list[bytes]:
        limit = self._values.limits.max_list
        found = self._wait(
            self._values.list(self._namespace, prefix=_text(prefix, empty=True), limit=limit)
        )
        return [key.encode() for key in found]

    def _wait(self, work: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(timeout=self._values.limits.call_timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise KvFailure(UNAVAILABLE, "the store took longer than kv.call_timeout_ms") from None
        except InvalidRequest as exc:
            raise KvFailure(INVALID, exc.detail) from None
        except PayloadTooLarge as exc:
            raise KvFailure(TOO_LARGE, exc.detail) from None
        except QuotaExceeded as exc:
            raise KvFailure(QUOTA, exc.detail) from None
        except WessError as exc:
            raise KvFailure(UNAVAILABLE, exc.detail) from None


def _text(raw: bytes, *, empty: bool = False) -> str:
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise KvFailure(INVALID, "a key is UTF-8") from None
    if not text and not empty:
        raise KvFailure(INVALID, "a key is not empty")
    return text
