"""The RocksDB store's layout: one column family per kind of data, and how to scan one.

Format ``wess-rocks/3``; every key and value is plain bytes:

    system      format        b"wess-rocks/3"
                sealed        b"aes-256-gcm/1", written with the first sealed value
                migration     the progress of a migration under way (``migrations``)
    modules     m:<uuid>      the encoded ``ModuleInfo`` (records.py)
                w:<uuid>      the wasm bytes, sealed when a keyring is configured
                n:<len16><namespace><uuid>    empty; the per-namespace listing index
                r:<uuid>/<rev u64>            a retained revision's ``ModuleInfo``
                v:<uuid>/<rev u64>            its wasm bytes (sealed likewise)
                x:<len16><namespace><name>    the module id that name addresses
    artifacts   <uuid>/<digest>/<flavor>      an AOT artifact (sealed likewise)
    usage       <uuid>        how often the module was invoked (u64, big-endian)
    keys        <key id>      an API key record (records.py)
    audit       <seq>         an audit entry; seq is a u64, big-endian, so the log
                              iterates in sequence order
    invocations               asynchronous invocations (``rocks/invocations.py``)
    kv                        key-value state of the guests (``rocks/kv.py``)

Kinds live apart so that a damaged block costs the records of its own kind only: the
few records the store itself needs (``system``) sit in files of their own, and the
format is also kept in ``FORMAT_FILE`` beside the database, read when ``system``
cannot be. A metadata scan never reads wasm, and a module's metadata and bytes share a
family, so one multi-get reads both at one sequence number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

SYSTEM = "system"
MODULES = "modules"
ARTIFACTS = "artifacts"
USAGE = "usage"
KEYS = "keys"
AUDIT = "audit"
INVOCATIONS = "invocations"
KV = "kv"
FAMILIES = (SYSTEM, MODULES, ARTIFACTS, USAGE, KEYS, AUDIT, INVOCATIONS, KV)
ADDED_FAMILIES = frozenset({INVOCATIONS, KV})
"""Families added within format 2: created when a store is first opened to write by a
Wess that knows them (nothing moves into them), absent from an older store opened to
read only, whose readers then find them empty."""

FORMAT = b"wess-rocks/3"
FORMAT_KEY = b"format"
SEALED_KEY = b"sealed"
MIGRATION_KEY = b"migration"
FORMAT_FILE = "WESS_FORMAT"
"""The second copy of the format, a file beside RocksDB's own (``wess.files``)."""

META = b"m:"
WASM = b"w:"
INDEX = b"n:"
REVISION_META = b"r:"
REVISION_WASM = b"v:"
NAME = b"x:"
REVISION_BYTES = 8
SEQ_BYTES = 8
SEPARATOR = b"/"
COUNT_BYTES = 8
MAX_COUNT = (1 << 64) - 1


def module_key(module_id: UUID) -> bytes:
    return str(module_id).encode()


def index_prefix(namespace: str) -> bytes:
    """``n:`` + length-prefixed namespace: no namespace's prefix starts another's."""
    encoded = namespace.encode()
    return INDEX + len(encoded).to_bytes(2, "big") + encoded


def revision_prefix(kind: bytes, key: bytes) -> bytes:
    """``r:<uuid>/`` or ``v:<uuid>/``: every revision of one module, in number order."""
    return kind + key + SEPARATOR


def revision_key(kind: bytes, key: bytes, revision: int) -> bytes:
    return revision_prefix(kind, key) + revision.to_bytes(REVISION_BYTES, "big")


def name_key(namespace: str, name: str) -> bytes:
    """``x:`` + length-prefixed namespace + the name: no namespace's names mix."""
    encoded = namespace.encode()
    return NAME + len(encoded).to_bytes(2, "big") + encoded + name.encode()


def audit_key(seq: int) -> bytes:
    """The sequence number as a fixed-width u64: byte order is number order."""
    if not 0 < seq < 1 << (8 * SEQ_BYTES):
        raise ValueError(f"audit sequence numbers run from 1 to 2**64 - 1, not {seq}")
    return seq.to_bytes(SEQ_BYTES, "big")


def api_key_key(key_id: str) -> bytes:
    return key_id.encode()


def artifact_prefix(key: bytes) -> bytes:
    return key + SEPARATOR


def artifact_key(key: bytes, digest: str, flavor: str) -> bytes:
    return artifact_prefix(key) + digest.encode() + SEPARATOR + flavor.encode()


Skipped = Callable[[bytes, bytes | None], None]
"""Told, by a scan that steps over a damaged block, the last key read before it and the
key it resumed at (None: nothing readable after it)."""


def scan(
    source: Any, prefix: bytes, start: bytes, *, skipped: Skipped | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """Keys and values from ``start`` while they begin with ``prefix``.

    Uses the raw iterator and checks its status: rocksdict's ``items()`` ends silently
    on a checksum error, which would make a listing quietly incomplete. A corrupt block
    raises, unless ``skipped`` is given: then the scan steps over it (``resume_after``)
    and goes on, telling ``skipped`` what it left out.
    """
    while True:
        iterator = source.iter()
        iterator.seek(start)
        last: bytes | None = None
        try:
            while iterator.valid():
                key: bytes = iterator.key()
                if not key.startswith(prefix):
                    return
                value: bytes = iterator.value()
                last = key
                yield key, value
                iterator.next()
            iterator.status()
            return
        except Exception as exc:
            if skipped is None or "Corruption" not in str(exc):
                raise
        after = start if last is None else last
        resumed = resume_after(source, after, prefix)
        skipped(after, resumed)
        if resumed is None:
            return
        start = resumed


def resume_after(source: Any, after: bytes, prefix: bytes) -> bytes | None:
    """The first key past the damaged block that follows ``after`` (None: none within
    ``prefix``). A seek into a damaged block fails and a seek past it succeeds, so a
    binary search over the key space finds the smallest key a seek can reach: the scan
    loses the records of the damaged block and no others."""
    width = max(len(after), len(prefix)) + 16
    low = int.from_bytes(after.ljust(width, b"\0"), "big") + 1
    bound = _after_prefix(prefix)
    high = int.from_bytes(bound.ljust(width, b"\0"), "big") if bound else 1 << (8 * width)
    while low < high:
        middle = (low + high) // 2
        if _seek_fails(source, _key(middle, width)):
            low = middle + 1
        else:
            high = middle
    if bound is not None and high >= int.from_bytes(bound.ljust(width, b"\0"), "big"):
        return None
    resumed = _first_key(source, _key(high, width))
    return resumed if resumed is not None and resumed.startswith(prefix) else None


def _key(value: int, width: int) -> bytes:
    return value.to_bytes(width, "big").rstrip(b"\0")


def _after_prefix(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key that starts with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _seek_fails(source: Any, key: bytes) -> bool:
    iterator = source.iter()
    iterator.seek(key)
    try:
        iterator.status()
    except Exception as exc:
        if "Corruption" in str(exc):
            return True
        raise
    return False


def _first_key(source: Any, key: bytes) -> bytes | None:
    iterator = source.iter()
    iterator.seek(key)
    found: bytes | None = iterator.key() if iterator.valid() else None
    iterator.status()
    return found


def scan_keys(source: Any, prefix: bytes) -> Iterator[bytes]:
    """The keys that begin with ``prefix``, without reading their values."""
    iterator = source.iter()
    iterator.seek(prefix)
    while iterator.valid():
        key: bytes = iterator.key()
        if not key.startswith(prefix):
            return
        yield key
        iterator.next()
    iterator.status()
