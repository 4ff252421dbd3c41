"""wess:kv@1 in the runtime: the guest ABI over a KvAccess on the calling thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures import wasm
from wess.errors import UnknownImport
from wess.runtime import Runtime
from wess.runtime.kv import INVALID, NOT_FOUND, QUOTA, UNAVAILABLE, KvFailure


class DictKv:
    """A KvAccess in a dict; ``full`` refuses writes as over quota."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.full = False

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        if self.full:
            raise KvFailure(QUOTA)
        self.data[key] = value

    def delete(self, key: bytes) -> bool:
        return self.data.pop(key, None) is not None

    def keys(self, prefix: bytes) -> list[bytes]:
        return sorted(k for k in self.data if k.startswith(prefix))


@pytest.fixture
def store(runtime: Runtime) -> Iterator[DictKv]:
    kv = DictKv()
    runtime.kv.current = kv
    yield kv
    runtime.kv.current = None


def call(runtime: Runtime, name: str, *args: int) -> int:
    result = runtime.load(wasm("kv_counter")).function(name).invoke(list(args)).results[0]
    assert isinstance(result, int)
    return result


def test_a_counter_kept_across_calls(runtime: Runtime, store: DictKv) -> None:
    """Every call is a fresh instance, yet the counter goes on: it lives in the store."""
    assert [call(runtime, "hit") for _ in range(3)] == [1, 2, 3]
    assert store.data[b"hits"] == (3).to_bytes(4, "little")
    assert runtime.load(wasm("kv_counter")).function("hit").call_path == "documented"


def test_get_answers_the_length_and_writes_only_what_fits(runtime: Runtime, store: DictKv) -> None:
    """A buffer too small gets nothing and learns the length; a missing key NOT_FOUND."""
    assert call(runtime, "read", 4) == NOT_FOUND
    store.data[b"hits"] = b"12345678"
    assert call(runtime, "read", 4) == 8
    assert call(runtime, "read", 8) == 8


def test_delete_and_list(runtime: Runtime, store: DictKv) -> None:
    """delete says whether a value was there; list writes the keys, one a line."""
    store.data.update({b"hits": b"1", b"hello": b"2", b"other": b"3"})
    assert call(runtime, "listed", 2) == len(b"hello\nhits\n")  # too small: length only
    assert call(runtime, "listed", 64) == len(b"hello\nhits\n")
    assert call(runtime, "first_byte") == ord("h")
    assert call(runtime, "forget") == 1
    assert call(runtime, "forget") == 0


def test_refusals_are_statuses_never_traps(runtime: Runtime, store: DictKv) -> None:
    """Memory out of range is INVALID, a full store QUOTA, no store UNAVAILABLE."""
    assert call(runtime, "wild") == INVALID
    store.full = True
    assert call(runtime, "hit") == QUOTA
    runtime.kv.current = None
    assert call(runtime, "hit") == UNAVAILABLE


def test_an_import_of_the_wrong_type_is_refused(runtime: Runtime) -> None:
    """wess:kv@1 functions must have their documented types."""
    import wasmtime

    bad = wasmtime.wat2wasm('(module (import "wess:kv@1" "get" (func (param i32) (result i32))))')
    with pytest.raises(UnknownImport, match="wess:kv@1"):
        runtime.load(bytes(bad))


def test_the_documented_counter_counts(runtime: Runtime, store: DictKv) -> None:
    """docs/kv.md's WAT example compiles and counts 1, 2, 3 as it says."""
    import re
    from pathlib import Path

    import wasmtime

    text = (Path(__file__).resolve().parents[2] / "docs" / "kv.md").read_text()
    source = re.findall(r"```wat\n(.*?)```", text, flags=re.S)[0]
    program = runtime.load(bytes(wasmtime.wat2wasm(source)))
    assert [program.function("hit")()[0] for _ in range(3)] == [1, 2, 3]
