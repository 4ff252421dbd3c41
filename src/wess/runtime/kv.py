"""``wess:kv@1``: key-value state for guests, as a versioned host interface.

A guest imports these functions from the import module ``wess:kv@1``; every pointer
and length is an ``i32`` into the guest's exported ``memory`` (a module that imports
them must export its memory as ``memory``). Results are ``i32``: a negative one is a
status, never a length.

    get(key_ptr, key_len, out_ptr, out_cap) -> i32
        The value's length. When it fits (length <= out_cap) its bytes are written at
        out_ptr; otherwise nothing is written and the guest may call again with a
        buffer that large. NOT_FOUND when the key has no value.
    set(key_ptr, key_len, value_ptr, value_len) -> i32
        OK once the value is stored (durable: see the consistency below).
    delete(key_ptr, key_len) -> i32
        1 if a value was removed, 0 if there was none.
    list(prefix_ptr, prefix_len, out_ptr, out_cap) -> i32
        The keys that start with the prefix, in byte order, at most ``max_list`` of
        them, each followed by ``\\n`` (keys never hold control characters); the total
        length, written at out_ptr when it fits (as ``get``).

Statuses: ``OK`` 0, ``NOT_FOUND`` -1, ``INVALID`` -2 (a key that is not 1 to
``max_key`` bytes of UTF-8 without control characters, or a range outside the
memory), ``TOO_LARGE`` -3 (a value over ``max_value``), ``QUOTA`` -4 (the namespace's
bytes would pass its quota), ``UNAVAILABLE`` -5 (storage failed or took longer than
the host call's deadline, or the call has no key-value store).

**Whose store.** A call reads and writes the key-value store of its module's
namespace: every module of a namespace shares it, and no module reaches another
namespace's (the grant is the namespace; the owner manages it at ``/v1/kv``).

**Threads and consistency.** Host functions run on the thread that called into the
guest. The Runner sets that thread's ``KvSlot`` to the call's ``KvAccess`` for the
call's length; a ``KvAccess`` is blocking (the server's reaches the asynchronous store
through the event loop, each host call bounded by its own deadline). Each ``set`` and
``delete`` is committed to the store, durably, before it returns; a ``get`` or
``list`` reads what is committed, so a call reads its own writes, and a later call
(on any node sharing the store) reads them too. Calls running at once are not
isolated from one another: the last write of a key wins, and a read-modify-write
(a counter) by two calls at once may lose an update.

The functions are registered in the host API registry (``hostapi.interfaces``) as
per-call functions, so modules that import them take the documented call path (never
the inline lane on the event loop, where a blocking host call would stall the server).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import wasmtime

from wess.runtime.layout import FuncType

KV_MODULE = "wess:kv@1"
MEMORY_EXPORT = "memory"
I32 = b"\x7f"
ADDRESS_MASK = 0xFFFF_FFFF

OK = 0
NOT_FOUND = -1
INVALID = -2
TOO_LARGE = -3
QUOTA = -4
UNAVAILABLE = -5

FUNCTIONS: dict[str, FuncType] = {
    "get": FuncType((I32,) * 4, (I32,)),
    "set": FuncType((I32,) * 4, (I32,)),
    "delete": FuncType((I32,) * 2, (I32,)),
    "list": FuncType((I32,) * 4, (I32,)),
}
"""Every function of ``wess:kv@1`` and its wasm type: what analysis accepts."""


class KvFailure(Exception):
    """A ``KvAccess`` refusal: ``status`` is the value the guest gets."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(reason or str(status))
        self.status = status


class KvAccess(Protocol):
    """One call's key-value store, blocking; raises ``KvFailure`` to refuse."""

    def get(self, key: bytes) -> bytes | None: ...

    def set(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> bool: ...

    def keys(self, prefix: bytes) -> list[bytes]: ...


class KvSlot(threading.local):
    """The ``KvAccess`` of the call running on each thread (None: none)."""

    current: KvAccess | None = None


def uses_kv(imports: tuple[str, ...]) -> bool:
    """Whether a module with these imports (``module.name``) calls ``wess:kv@1``."""
    return any(name.startswith(KV_MODULE + ".") for name in imports)


def kv_functions(slot: KvSlot) -> dict[str, Callable[..., int]]:
    """Every function of ``wess:kv@1`` by name, reading ``slot``: what the host API
    registry (``hostapi.interfaces``) defines in the linker."""
    return {"get": _get(slot), "set": _set(slot), "delete": _delete(slot), "list": _list(slot)}


def _memory(caller: wasmtime.Caller) -> wasmtime.Memory | None:
    memory = caller.get(MEMORY_EXPORT)
    return memory if isinstance(memory, wasmtime.Memory) else None


def _read(caller: wasmtime.Caller, pointer: int, length: int) -> bytes | None:
    memory = _memory(caller)
    start, length = pointer & ADDRESS_MASK, length & ADDRESS_MASK
    if memory is None or start + length > memory.data_len(caller):
        return None
    return bytes(memory.read(caller, start, start + length))


def _answer(caller: wasmtime.Caller, data: bytes, pointer: int, capacity: int) -> int:
    """``len(data)``, written at ``pointer`` when it fits in ``capacity``."""
    capacity &= ADDRESS_MASK
    if len(data) > capacity:
        return len(data)
    memory = _memory(caller)
    start = pointer & ADDRESS_MASK
    if memory is None or start + len(data) > memory.data_len(caller):
        return INVALID
    if data:
        memory.write(caller, data, start)
    return len(data)


def _guarded(call: Callable[..., int]) -> Callable[..., int]:
    """Host functions must never raise into wasmtime: every failure is a status."""

    def guarded(*args: object) -> int:
        try:
            return call(*args)
        except KvFailure as failure:
            return failure.status
        except Exception:
            return UNAVAILABLE

    return guarded


def _get(slot: KvSlot) -> Callable[..., int]:
    def get(caller: wasmtime.Caller, key_ptr: int, key_len: int, out: int, cap: int) -> int:
        access = slot.current
        if access is None:
            return UNAVAILABLE
        key = _read(caller, key_ptr, key_len)
        if key is None:
            return INVALID
        value = access.get(key)
        return NOT_FOUND if value is None else _answer(caller, value, out, cap)

    return _guarded(get)


def _set(slot: KvSlot) -> Callable[..., int]:
    def set_(caller: wasmtime.Caller, key_ptr: int, key_len: int, ptr: int, length: int) -> int:
        access = slot.current
        if access is None:
            return UNAVAILABLE
        key = _read(caller, key_ptr, key_len)
        value = _read(caller, ptr, length)
        if key is None or value is None:
            return INVALID
        access.set(key, value)
        return OK

    return _guarded(set_)


def _delete(slot: KvSlot) -> Callable[..., int]:
    def delete(caller: wasmtime.Caller, key_ptr: int, key_len: int) -> int:
        access = slot.current
        if access is None:
            return UNAVAILABLE
        key = _read(caller, key_ptr, key_len)
        if key is None:
            return INVALID
        return 1 if access.delete(key) else 0

    return _guarded(delete)


def _list(slot: KvSlot) -> Callable[..., int]:
    def list_(caller: wasmtime.Caller, prefix_ptr: int, prefix_len: int, out: int, cap: int) -> int:
        access = slot.current
        if access is None:
            return UNAVAILABLE
        prefix = _read(caller, prefix_ptr, prefix_len)
        if prefix is None:
            return INVALID
        keys = access.keys(prefix)
        return _answer(caller, b"".join(key + b"\n" for key in keys), out, cap)

    return _guarded(list_)
